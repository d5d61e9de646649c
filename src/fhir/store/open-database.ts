// Chooses the engine from configuration: PostgreSQL when DATABASE_URL is set, otherwise the
// embedded PGlite under DATA_DIR — then applies the migrations.
import { join } from 'node:path';
import { openPglite, openPostgres, type Database } from './database.js';
import { migrate } from './migrations.js';

export interface StoreConfig {
  databaseUrl?: string;
  dataDir: string;
  /** PostgreSQL schema (tests give each suite its own). */
  schema?: string;
  /** PGlite only: keep the database in memory (tests). */
  inMemory?: boolean;
}

export async function openDatabase(cfg: StoreConfig): Promise<Database> {
  const db = cfg.databaseUrl
    ? await openPostgres({ connectionString: cfg.databaseUrl, schema: cfg.schema })
    : await openPglite({ dataDir: cfg.inMemory ? undefined : join(cfg.dataDir, 'pglite') });
  try {
    await migrate(db);
  } catch (err) {
    // Closed, so the embedded store's data-directory lock goes with it.
    await db.close().catch(() => undefined);
    throw err;
  }
  return db;
}
