// An exclusive lock on the embedded store's data directory. PGlite is one process's database:
// a second process opening the same files (say `lead-gateway ingest` beside a running gateway)
// would write where the first never looks and can corrupt the directory. The lock is a file
// beside the directory, created with O_EXCL ('wx'), holding the owner's pid; a lock whose pid no
// longer runs (a process killed before it could remove it) is stale and taken over.
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';

export class DataDirInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
    readonly lockFile: string,
  ) {
    super(
      `The embedded store under DATA_DIR (${dataDir}) is in use by ${pid === process.pid ? 'this' : 'another'} process (pid ${pid}). ` +
        'PGlite allows one process at a time: stop that process (e.g. the running gateway) first, ' +
        'or run the gateway and the CLI both on PostgreSQL (DATABASE_URL). ' +
        `If no process ${pid} of this gateway is running, delete ${lockFile}.`,
    );
    this.name = 'DataDirInUseError';
  }
}

export interface DataDirLock {
  readonly file: string;
  /** Removes the lock file (if it is still ours); idempotent. */
  release(): void;
}

// Locks this process holds: its own pid in a lock file is stale only when it is not one of these
// (a container restarted after a crash often gets the same pid as before).
const held = new Set<string>();

/** Takes the lock for `dataDir` (the file `<dataDir>.lock`), or throws DataDirInUseError naming the holder. */
export function lockDataDir(dataDir: string): DataDirLock {
  const file = `${dataDir}.lock`;
  const mine = String(process.pid);
  let waited = false;
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, mine, { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const content = readLock(file);
    if (content === undefined) continue; // removed meanwhile: try again
    if (content === '' && !waited) {
      // An opener between its create and its write; still empty after the wait: it died there.
      waited = true;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
      continue;
    }
    const pid = Number(content);
    const live = Number.isInteger(pid) && pid > 0 && (pid === process.pid ? held.has(file) : alive(pid));
    if (live || attempt > 2) throw new DataDirInUseError(dataDir, pid, file);
    // Stale. Remove it only if it still is the stale one; a racing opener that removed it first
    // and created its own makes our next 'wx' fail, and we read its (live) pid.
    if (readLock(file) === content) removeQuietly(file);
  }
  held.add(file);
  const onExit = (): void => release();
  process.once('exit', onExit);
  let released = false;
  function release(): void {
    if (released) return;
    released = true;
    held.delete(file);
    process.off('exit', onExit);
    if (readLock(file) === mine) removeQuietly(file);
  }
  return { file, release };
}

function readLock(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function removeQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Signal 0 only checks: ESRCH means no such process; EPERM means it runs as another user. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
