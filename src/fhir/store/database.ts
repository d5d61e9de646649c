// One SQL dialect (PostgreSQL) over two engines: a pg Pool when DATABASE_URL is set, or the
// embedded PGlite (PostgreSQL compiled to WASM) persisted under DATA_DIR. Everything above this
// file sees only `Sql` and `Database`.
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import pg from 'pg';
import { lockDataDir, type DataDirLock } from './data-dir-lock.js';

export interface QueryResult<T> {
  rows: T[];
}

/** Something that runs parameterised SQL: the database itself or an open transaction. */
export interface QueryOptions {
  /**
   * Run as a named prepared statement (PostgreSQL: parsed and planned once per connection).
   * For the few statement shapes run thousands of times, e.g. the version write; PGlite ignores it.
   */
  prepare?: boolean;
}

export interface Sql {
  query<T = Record<string, unknown>>(text: string, params?: unknown[], opts?: QueryOptions): Promise<QueryResult<T>>;
  /** Runs several statements without parameters (migrations). */
  exec(text: string): Promise<void>;
  /**
   * Set on the handle of a savepoint unit (Repository.inSavepoint): its number within the
   * transaction, so what is kept per transaction (outbox deliveries, read caches) can be kept
   * per unit instead — a unit that rolls back takes only its own share with it.
   */
  readonly unit?: number;
}

export interface Database extends Sql {
  readonly kind: 'postgres' | 'pglite';
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  /**
   * LISTEN on `channel` over a connection of its own (PostgreSQL: not a pool client). `onNotify`
   * gets each notification's payload, and `null` each time the connection listens (again):
   * whatever was notified before then may have been missed, so a listener resyncs. `onLost` is
   * called when the connection fails; it reconnects with backoff (or a failed first connect is
   * retried the same way). Resolves once the first attempt settled; the function it gives stops.
   */
  listen(channel: string, onNotify: (payload: string | null) => void, onLost: () => void): Promise<() => Promise<void>>;
}

export interface PostgresOptions {
  connectionString: string;
  /** Schema to use (created if missing): lets parallel test suites share one server. */
  schema?: string;
  max?: number;
}

export async function openPostgres(opts: PostgresOptions): Promise<Database> {
  const schema = opts.schema;
  if (schema && !/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`Invalid schema name: ${schema}`);
  const pool = new pg.Pool({
    connectionString: opts.connectionString,
    max: opts.max ?? 10,
    // Every connection of the pool starts in the schema, before any query of ours.
    options: schema ? `-c search_path=${schema}` : undefined,
  });
  // Errors on idle clients (e.g. a server restart) must not crash the process.
  pool.on('error', () => undefined);
  if (schema) await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  const run = async <T>(text: string, params?: unknown[], opts?: QueryOptions): Promise<QueryResult<T>> => {
    const r = await pool.query(statement(text, params, opts));
    return { rows: r.rows as T[] };
  };
  return {
    kind: 'postgres',
    query: run,
    exec: async (text) => {
      await pool.query(text);
    },
    async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const tx: Sql = {
          query: async <R>(text: string, params?: unknown[], opts?: QueryOptions) => {
            const r = await client.query(statement(text, params, opts));
            return { rows: r.rows as R[] };
          },
          exec: async (text: string) => {
            await client.query(text);
          },
        };
        const result = await fn(tx);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
    listen: (channel, onNotify, onLost) =>
      listenPostgres(
        // Named, so an operator (and the tests) can find it in pg_stat_activity.
        { connectionString: opts.connectionString, application_name: `lead-listen${schema ? ` ${schema}` : ''}`, keepAlive: true },
        channel,
        onNotify,
        onLost,
      ),
  };
}

/** A connection that died without an error (a silent network loss) is found by this ping. */
const LISTEN_PING_MS = 10_000;
const LISTEN_PING_TIMEOUT_MS = 5_000;
const LISTEN_MAX_BACKOFF_MS = 5_000;

async function listenPostgres(
  config: pg.ClientConfig,
  channel: string,
  onNotify: (payload: string | null) => void,
  onLost: () => void,
): Promise<() => Promise<void>> {
  if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`Invalid channel name: ${channel}`);
  let client: pg.Client | undefined;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  let ping: NodeJS.Timeout | undefined;
  let backoff = 0;
  // Each connection reports its loss once (error and end both come), and only while current.
  const lose = (c: pg.Client): void => {
    if (client !== c) return;
    client = undefined;
    clearInterval(ping);
    c.end().catch(() => undefined);
    if (stopped) return;
    onLost();
    backoff = Math.min(Math.max(backoff * 2, 100), LISTEN_MAX_BACKOFF_MS);
    retry = setTimeout(() => void connect(), backoff);
  };
  const connect = async (): Promise<void> => {
    const c = new pg.Client(config);
    client = c;
    c.on('error', () => lose(c));
    c.on('end', () => lose(c));
    c.on('notification', (m) => {
      if (client === c && m.channel === channel) onNotify(m.payload ?? '');
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${channel}`);
    } catch {
      lose(c);
      return;
    }
    if (client !== c) return; // lost or stopped meanwhile
    backoff = 0;
    ping = setInterval(() => {
      const timer = setTimeout(() => lose(c), LISTEN_PING_TIMEOUT_MS);
      c.query('SELECT 1').then(
        () => clearTimeout(timer),
        () => {
          clearTimeout(timer);
          lose(c);
        },
      );
    }, LISTEN_PING_MS);
    onNotify(null);
  };
  await connect();
  return async () => {
    stopped = true;
    clearTimeout(retry);
    clearInterval(ping);
    const c = client;
    client = undefined;
    await c?.end().catch(() => undefined);
  };
}

// Statement names by text: a handful of shapes, so the map stays small.
const names = new Map<string, string>();

function statement(text: string, params: unknown[] | undefined, opts: QueryOptions | undefined): pg.QueryConfig {
  if (!opts?.prepare) return { text, values: params };
  let name = names.get(text);
  if (!name) names.set(text, (name = `s_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`));
  return { name, text, values: params };
}

export interface PgliteOptions {
  /** Folder for the data files; undefined keeps everything in memory (tests). */
  dataDir?: string;
}

export async function openPglite(opts: PgliteOptions): Promise<Database> {
  const { PGlite } = await import('@electric-sql/pglite');
  let lock: DataDirLock | undefined;
  if (opts.dataDir) {
    mkdirSync(opts.dataDir, { recursive: true });
    // Before PGlite touches the files: a second process must not open them at all.
    lock = lockDataDir(opts.dataDir);
  }
  let db: InstanceType<typeof PGlite>;
  try {
    db = opts.dataDir ? await PGlite.create(opts.dataDir) : await PGlite.create();
  } catch (err) {
    lock?.release();
    throw err;
  }
  // PGlite is one connection: a transaction holds it, so queries from outside the transaction
  // wait for it (PGlite queues them). Nested use of `db` inside `fn` would deadlock: callers use tx.
  return {
    kind: 'pglite',
    query: async <T>(text: string, params?: unknown[]) => {
      const r = await db.query<T>(text, params as unknown[]);
      return { rows: r.rows };
    },
    exec: async (text) => {
      await db.exec(text);
    },
    transaction: <T>(fn: (tx: Sql) => Promise<T>) =>
      db.transaction(async (t) =>
        fn({
          query: async <R>(text: string, params?: unknown[]) => {
            const r = await t.query<R>(text, params as unknown[]);
            return { rows: r.rows };
          },
          exec: async (text: string) => {
            await t.exec(text);
          },
        }),
      ),
    close: async () => {
      try {
        await db.close();
      } finally {
        lock?.release();
      }
    },
    // One connection in this process: it is never lost, and it sees its own commits' notifications.
    listen: async (channel, onNotify) => {
      const unlisten = await db.listen(channel, (payload) => onNotify(payload));
      onNotify(null);
      return async () => {
        if (!db.closed) await unlisten();
      };
    },
  };
}
