// The embedded store's data-directory lock: PGlite is one process's database, so a second
// opener (the CLI beside a running gateway) is refused with a message saying what to do; the
// lock goes on close and on process exit, and one left by a process that is gone is taken over.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DataDirInUseError, lockDataDir } from '../../../src/fhir/store/data-dir-lock.js';
import { openDatabase } from '../../../src/fhir/store/open-database.js';

let dir: string;
let lockFile: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'data-dir-lock-'));
  lockFile = join(dir, 'pglite.lock');
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  // No DATABASE_URL: the CLI opens the embedded store under DATA_DIR.
  const env = { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', DATA_DIR: dir, PARTNERS_FILE: 'config/partners.json', GATEWAY_KEYS_FILE: '' };
  return new Promise((done) =>
    execFile(process.execPath, ['bin/lead-gateway.js', ...args], { env }, (err, stdout, stderr) =>
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

/** A pid no process has: a child that has already exited. */
function deadPid(): Promise<number> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['-e', '']);
    child.on('error', fail);
    child.on('exit', () => done(child.pid!));
  });
}

describe('the embedded store under DATA_DIR', () => {
  it('refuses a second opener while the first is open, the CLI with a clear message; after close a new open succeeds', async () => {
    const first = await openDatabase({ dataDir: dir });
    await first.exec('CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)');
    expect(readFileSync(lockFile, 'utf8')).toBe(String(process.pid));

    const again = openDatabase({ dataDir: dir });
    await expect(again).rejects.toThrow(DataDirInUseError);
    await expect(again).rejects.toThrow(`is in use by this process (pid ${process.pid})`);

    const r = await cli('deliveries', 'list');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`The embedded store under DATA_DIR (${join(dir, 'pglite')}) is in use by another process (pid ${process.pid})`);
    expect(r.stderr).toContain('PostgreSQL (DATABASE_URL)');
    expect(r.stderr).not.toMatch(/^\s+at /m); // no stack trace
    // The refused opener left the lock (and the data) alone.
    expect(readFileSync(lockFile, 'utf8')).toBe(String(process.pid));

    await first.close();
    expect(existsSync(lockFile)).toBe(false);
    const second = await openDatabase({ dataDir: dir });
    try {
      expect((await second.query<{ n: number }>('SELECT n FROM kept')).rows).toEqual([{ n: 7 }]);
    } finally {
      await second.close();
    }
  });

  it('takes over a lock whose process is gone', async () => {
    writeFileSync(lockFile, String(await deadPid()));
    const db = await openDatabase({ dataDir: dir });
    try {
      expect(readFileSync(lockFile, 'utf8')).toBe(String(process.pid));
    } finally {
      await db.close();
    }
    expect(existsSync(lockFile)).toBe(false);
  });

  it("another live process's lock refuses; it goes when that process exits without closing", async () => {
    const holder = join(dir, 'holder.mts');
    const lockModule = pathToFileURL(resolve('src/fhir/store/data-dir-lock.ts')).href;
    writeFileSync(
      holder,
      `import { lockDataDir } from '${lockModule}';\nlockDataDir(process.argv[2]);\nprocess.stdout.write('locked\\n');\nprocess.stdin.on('end', () => process.exit(0)).resume();\n`,
    );
    const child = spawn(process.execPath, ['bin/run-ts.js', holder, join(dir, 'pglite')], { stdio: ['pipe', 'pipe', 'inherit'] });
    const exited = new Promise<number | null>((done) => child.on('exit', done));
    await new Promise<void>((done, fail) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('locked') && done());
      child.on('exit', () => fail(new Error('holder exited before locking')));
    });

    expect(() => lockDataDir(join(dir, 'pglite'))).toThrow(`is in use by another process (pid ${child.pid})`);
    child.stdin.end();
    expect(await exited).toBe(0);
    expect(existsSync(lockFile)).toBe(false);
    lockDataDir(join(dir, 'pglite')).release();
  });
});
