// Delay before the next attempt: Retry-After when the receiver sent one (capped), otherwise
// exponential (base · 2^(n-1), capped) with "equal jitter" — half fixed, half random — so a
// partner coming back from an outage is not hit by every delivery at the same instant
// (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/).
export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  retryAfterMaxMs: number;
  random?: () => number;
}

export const BACKOFF_TYPE = 'lead-delivery';

export function nextDelay(attemptsMade: number, err: unknown, o: BackoffOptions): number {
  const retryAfter = (err as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
  if (typeof retryAfter === 'number') return Math.min(retryAfter, o.retryAfterMaxMs);
  const exp = Math.min(o.maxMs, o.baseMs * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(exp / 2 + (o.random ?? Math.random)() * (exp / 2));
}
