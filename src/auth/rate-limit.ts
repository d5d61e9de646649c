// Per-client rate limit for the FHIR API: a fixed window counted in Redis, so the limit holds
// across gateway processes. Runs after requireBearer (it needs res.locals.requester).
import type { RequestHandler } from 'express';
import type { Redis } from 'ioredis';
import type { PartnerDirectory, RateLimit } from '../config/partners.js';
import type { Logger } from '../logger.js';
import type { Requester } from './requester.js';
import { sendOutcome } from './outcomes.js';

export interface RateLimitOptions {
  redis: Redis;
  partners: PartnerDirectory;
  logger: Logger;
  /** Redis key prefix; give each test its own. */
  keyPrefix: string;
  /** Used when neither the client entry nor the directory's `defaults.rateLimit` sets one. */
  fallback?: RateLimit;
  now?: () => number;
}

export function rateLimitPerClient(opts: RateLimitOptions): RequestHandler {
  const now = opts.now ?? Date.now;
  const fallback = opts.partners.defaults?.rateLimit ?? opts.fallback ?? { requests: 600, windowSeconds: 60 };
  return async (_req, res, next) => {
    const requester = res.locals.requester as Requester | undefined;
    if (!requester) return next(new Error('rateLimitPerClient must run after requireBearer'));
    const limit = opts.partners.findClient(requester.clientId)?.client.rateLimit ?? fallback;
    const windowMs = limit.windowSeconds * 1000;
    const t = now();
    const window = Math.floor(t / windowMs);
    const key = `${opts.keyPrefix}rl:${requester.clientId}:${window}`;
    let count: number;
    try {
      const results = await opts.redis.multi().incr(key).pexpire(key, windowMs + 1000).exec();
      count = Number(results?.[0]?.[1]);
    } catch (err) {
      // Fail open: the limit protects capacity; authentication and scopes still apply.
      opts.logger.error({ err }, 'rate limit unavailable (Redis); request allowed');
      return next();
    }
    res.set('RateLimit-Limit', String(limit.requests));
    res.set('RateLimit-Remaining', String(Math.max(0, limit.requests - count)));
    if (count <= limit.requests) return next();
    const retryAfter = Math.max(1, Math.ceil(((window + 1) * windowMs - t) / 1000));
    res.set('Retry-After', String(retryAfter));
    opts.logger.warn({ clientId: requester.clientId, limit: limit.requests, windowSeconds: limit.windowSeconds }, 'rate limit exceeded');
    sendOutcome(res, 429, 'throttled', `Too many requests; retry after ${retryAfter} s`);
  };
}
