// One delivery at a time per (destination, person). Two Bundles for the same person sent at once
// would both conditionally create the Patient (`PUT Patient?identifier=…` finds nothing for
// either) and the receiver would hold two copies — after which every conditional update on that
// identifier fails 412 (multiple matches). A short Redis lock per (destination, patient),
// shared by every worker process, serialises them; BullMQ has no per-group concurrency in its
// open-source edition. The key names the gateway's own Patient id, never an identifier.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const EXTEND = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

export class LockBusyError extends Error {
  override name = 'LockBusyError';
}

export class PatientLocks {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** A dead holder's lock expires after this; a live one extends it every ttl/3. */
    private readonly ttlMs: number,
    /** Longest wait for the lock before giving up (the job is retried later). */
    private readonly maxWaitMs: number,
  ) {}

  /** Runs `fn` holding the lock; waits up to maxWaitMs for it, then LockBusyError. */
  async withLock<T>(destination: string, patientId: string, fn: () => Promise<T>): Promise<T> {
    const key = `${this.prefix}exchange-lock:${destination}:${patientId}`;
    const token = randomUUID();
    const until = Date.now() + this.maxWaitMs;
    for (let wait = 10; ; wait = Math.min(wait * 2, 250)) {
      if ((await this.redis.set(key, token, 'PX', this.ttlMs, 'NX')) === 'OK') break;
      if (Date.now() > until) throw new LockBusyError('another delivery to this destination for the same person is in flight');
      await new Promise((r) => setTimeout(r, wait));
    }
    const heartbeat = setInterval(() => void this.redis.eval(EXTEND, 1, key, token, String(this.ttlMs)).catch(() => undefined), Math.max(100, this.ttlMs / 3));
    try {
      return await fn();
    } finally {
      clearInterval(heartbeat);
      await this.redis.eval(RELEASE, 1, key, token).catch(() => undefined);
    }
  }
}
