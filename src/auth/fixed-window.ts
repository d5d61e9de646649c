// A fixed-window request counter in Redis, shared by every gateway process. Used for the
// per-client limit at the FHIR API and the per-address limit at the token endpoint.
import type { Redis } from 'ioredis';
import type { RateLimit } from '../config/partners.js';

export interface WindowCount {
  allowed: boolean;
  remaining: number;
  /** Seconds until the window resets (for Retry-After). */
  retryAfter: number;
}

/** Counts one request for `subject` in the current window of `limit`. */
export async function countRequest(redis: Redis, key: string, limit: RateLimit, nowMs: number): Promise<WindowCount> {
  const windowMs = limit.windowSeconds * 1000;
  const window = Math.floor(nowMs / windowMs);
  const windowKey = `${key}:${window}`;
  const results = await redis.multi().incr(windowKey).pexpire(windowKey, windowMs + 1000).exec();
  const count = Number(results?.[0]?.[1]);
  return {
    allowed: count <= limit.requests,
    remaining: Math.max(0, limit.requests - count),
    retryAfter: Math.max(1, Math.ceil(((window + 1) * windowMs - nowMs) / 1000)),
  };
}
