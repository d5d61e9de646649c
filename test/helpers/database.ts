// Test databases: the machine's real PostgreSQL (one fresh schema per suite, dropped after) or
// an in-memory PGlite. Suites run in parallel without seeing each other's rows.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Database } from '../../src/fhir/store/database.js';
import { openDatabase } from '../../src/fhir/store/open-database.js';

export type StoreKind = 'postgres' | 'pglite';
export const STORE_KINDS: StoreKind[] = ['postgres', 'pglite'];

export const TEST_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

export interface TestDatabase {
  db: Database;
  drop(): Promise<void>;
}

export async function openTestDatabase(kind: StoreKind): Promise<TestDatabase> {
  if (kind === 'pglite') {
    const db = await openDatabase({ dataDir: '', inMemory: true });
    return { db, drop: () => db.close() };
  }
  const schema = newSchemaName();
  const db = await openDatabase({ databaseUrl: TEST_DATABASE_URL, dataDir: '', schema });
  return {
    db,
    async drop() {
      await db.close();
      await dropSchema(schema);
    },
  };
}

/** A fresh schema name for one suite's tables. */
export const newSchemaName = (): string => `t_${randomBytes(6).toString('hex')}`;

/** Drops a test schema with everything in it (its own connection: the suite's may be closed). */
export async function dropSchema(schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await c.end();
  }
}

/** A digest of every table: proof that a failed request changed nothing. */
export async function storeFingerprint(db: Database): Promise<string> {
  const tables = ['idx_token', 'idx_string', 'idx_date', 'idx_reference', 'idx_number', 'idx_uri'];
  const parts: string[] = [];
  for (const t of ['resource', 'resource_history']) {
    const r = await db.query<{ n: number; h: string | null }>(
      `SELECT count(*)::int AS n, md5(string_agg(resource_type || '/' || id || '/' || version_id || '/' || deleted, ',' ORDER BY resource_type, id, version_id)) AS h FROM ${t}`,
    );
    parts.push(`${t}=${r.rows[0].n}:${r.rows[0].h}`);
  }
  for (const t of tables) {
    const r = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t}`);
    parts.push(`${t}=${r.rows[0].n}`);
  }
  return parts.join(',');
}
