// Builds the auth layer from the configuration, in the shape src/gateway.ts plugs in
// (`AuthWiring`): public auth routes, the /fhir guard, and the per-request scope check.
import express, { type RequestHandler, type Response, type Router } from 'express';
import { Redis } from 'ioredis';
import type { GatewayConfig } from '../config/env.js';
import { loadPartners, type PartnerDirectory } from '../config/partners.js';
import type { Logger } from '../logger.js';
import { AccessTokenVerifier } from './access-token.js';
import { authUrls } from './auth-urls.js';
import { requireBearer } from './bearer.js';
import { loadGatewayKeys, type GatewayKeys } from './gateway-keys.js';
import { createOutboundClients, type OutboundClient } from './outbound-client.js';
import { rateLimitPerClient } from './rate-limit.js';
import { requesterOf } from './requester.js';
import { scopeAccess, type Interaction } from './scopes.js';
import { createAuthRouter } from './token-server.js';

export interface AuthWiringParts {
  /** Requires a valid bearer token, records res.locals.requester, applies the client's rate limit. */
  middleware: RequestHandler;
  /** The scope check for the request's requester. */
  accessFor: (res: Response) => { allows(resourceType: string, interaction: Interaction): boolean };
  /** Token endpoint, introspection, JWKS and SMART discovery; mount at the root. */
  routes: Router;
  tokenUrl: string;
}

export interface Auth {
  wiring: AuthWiringParts;
  redis: Redis;
  partners: PartnerDirectory;
  keys: GatewayKeys;
  verifier: AccessTokenVerifier;
  /** The gateway as a client of each partner with an endpoint, by organization id. */
  outbound: Map<string, OutboundClient>;
  close(): Promise<void>;
}

export interface CreateAuthOptions {
  /** Redis key prefix for jti records and rate-limit counters (default `lead:auth:`). */
  keyPrefix?: string;
  /** Use this connection instead of opening one from REDIS_URL (not closed by close()). */
  redis?: Redis;
}

/** Loads PARTNERS_FILE and the gateway keys; throws an Error naming what is wrong. */
export async function createAuth(config: GatewayConfig, logger: Logger, opts: CreateAuthOptions = {}): Promise<Auth> {
  const partners = loadPartners(config.partnersFile);
  const keys = await loadGatewayKeys({ file: config.gatewayKeysFile, dataDir: config.dataDir, logger });
  const ownsRedis = !opts.redis;
  const redis = opts.redis ?? new Redis(config.redisUrl, { maxRetriesPerRequest: 1 });
  if (ownsRedis) redis.on('error', (err) => logger.warn({ err: err.message }, 'auth Redis connection error'));
  const keyPrefix = opts.keyPrefix ?? 'lead:auth:';
  const urls = authUrls(config.baseUrl);
  const verifier = new AccessTokenVerifier({ keys, issuer: urls.issuer, audience: urls.fhirBaseUrl, directory: partners });
  const middleware = express.Router();
  middleware.use(requireBearer({ verifier, logger }), rateLimitPerClient({ redis, partners, logger, keyPrefix }));
  return {
    wiring: {
      middleware,
      accessFor: (res) => scopeAccess(requesterOf(res).scopes),
      routes: createAuthRouter({ config, partners, keys, redis, logger, keyPrefix, verifier }),
      tokenUrl: urls.tokenUrl,
    },
    redis,
    partners,
    keys,
    verifier,
    outbound: createOutboundClients(partners.organizations, keys),
    async close() {
      if (ownsRedis) await redis.quit().catch(() => redis.disconnect());
    },
  };
}
