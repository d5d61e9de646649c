// Per-client rate limit for the FHIR API (a fixed window in Redis, so it holds across gateway
// processes). Runs after requireBearer: it needs res.locals.requester.
import type { RequestHandler } from 'express';
import type { Redis } from 'ioredis';
import type { PartnerDirectory, RateLimit } from '../config/partners.js';
import type { Logger } from '../logger.js';
import type { Requester } from './requester.js';
import { countRequest, type WindowCount } from './fixed-window.js';
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
    let count: WindowCount;
    try {
      count = await countRequest(opts.redis, `${opts.keyPrefix}rl:${requester.clientId}`, limit, now());
    } catch (err) {
      // Fail open: the limit protects capacity; authentication and scopes still apply.
      opts.logger.error({ err }, 'rate limit unavailable (Redis); request allowed');
      return next();
    }
    res.set('RateLimit-Limit', String(limit.requests));
    res.set('RateLimit-Remaining', String(count.remaining));
    if (count.allowed) return next();
    const { retryAfter } = count;
    res.set('Retry-After', String(retryAfter));
    opts.logger.warn({ clientId: requester.clientId, limit: limit.requests, windowSeconds: limit.windowSeconds }, 'rate limit exceeded');
    sendOutcome(res, 429, 'throttled', `Too many requests; retry after ${retryAfter} s`);
  };
}
