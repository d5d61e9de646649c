// The SMART Backend Services authorization server: token endpoint, discovery, public keys,
// token introspection. One express Router; the FHIR API plugs in requireBearer separately.
import express, { type ErrorRequestHandler, type Request, type RequestHandler, type Router } from 'express';
import type { Redis } from 'ioredis';
import type { GatewayConfig } from '../config/env.js';
import { purposeOfUseOf, type PartnerDirectory, type RateLimit } from '../config/partners.js';
import type { Logger } from '../logger.js';
import { AccessTokenIssuer, AccessTokenVerifier, InvalidTokenError } from './access-token.js';
import { authUrls } from './auth-urls.js';
import { bearerChallenge, bearerToken } from './bearer.js';
import { ClientAssertionVerifier, JWT_BEARER } from './client-assertion.js';
import { ClientKeys, type ClientKeysOptions } from './client-keys.js';
import { countRequest } from './fixed-window.js';
import type { GatewayKeys, SigningAlg } from './gateway-keys.js';
import { JtiReplayGuard } from './jti-replay-guard.js';
import { OAuthError, sendOAuthError } from './oauth-error.js';
import { negotiateScopes } from './scopes.js';
import { smartConfiguration } from './smart-configuration.js';

export interface AuthRouterOptions {
  config: Pick<GatewayConfig, 'baseUrl'>;
  partners: PartnerDirectory;
  keys: GatewayKeys;
  redis: Redis;
  logger: Logger;
  /** Redis key prefix for jti replay records (default `lead:auth:`); give each test its own. */
  keyPrefix?: string;
  /** Access-token signature algorithm (default RS384: ten times cheaper to verify than ES384). */
  accessTokenAlg?: SigningAlg;
  /** At most 300 (backend-services.md "Issue Access Token"); default 300. */
  accessTokenLifetimeSeconds?: number;
  /** Allowed clock skew on assertion exp/nbf (default 60 s). */
  clockSkewSeconds?: number;
  /** Tuning for jwksUri fetches. */
  jwks?: Omit<ClientKeysOptions, 'logger' | 'now'>;
  /**
   * Token requests allowed per client address (default 600 a minute; false turns it off). Every
   * request may cost a signature check, so a flood is refused before any parsing. Behind a proxy,
   * set express `trust proxy` so `req.ip` is the caller's address.
   */
  tokenRateLimit?: RateLimit | false;
  /** Verifier for /auth/introspect callers; pass the one requireBearer uses to share its cache. */
  verifier?: AccessTokenVerifier;
  now?: () => number;
}

/** The one parameter value, or an error when it is absent-but-required or repeated (RFC 6749 §3.2). */
function param(req: Request, name: string): string | undefined {
  const value: unknown = (req.body as Record<string, unknown> | undefined)?.[name];
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw new OAuthError('invalid_request', `Parameter ${name} must appear once`);
  return value;
}

export function createAuthRouter(opts: AuthRouterOptions): Router {
  const urls = authUrls(opts.config.baseUrl);
  const { logger, partners } = opts;
  const now = opts.now ?? Date.now;
  const keyPrefix = opts.keyPrefix ?? 'lead:auth:';
  const assertions = new ClientAssertionVerifier({
    directory: partners,
    tokenUrl: urls.tokenUrl,
    keys: new ClientKeys({ ...opts.jwks, logger, now }),
    replay: new JtiReplayGuard(opts.redis, keyPrefix),
    clockSkewSeconds: opts.clockSkewSeconds,
    now,
  });
  const common = { keys: opts.keys, issuer: urls.issuer, audience: urls.fhirBaseUrl, now };
  const issuer = new AccessTokenIssuer({ ...common, alg: opts.accessTokenAlg, lifetimeSeconds: opts.accessTokenLifetimeSeconds });
  const verifier = opts.verifier ?? new AccessTokenVerifier({ ...common, directory: partners });
  const discovery = smartConfiguration(urls, partners);
  const form = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 20 });

  const tokenLimit = opts.tokenRateLimit === undefined ? { requests: 600, windowSeconds: 60 } : opts.tokenRateLimit;
  const perAddress: RequestHandler = async (req, res, next) => {
    if (!tokenLimit) return next();
    let count;
    try {
      count = await countRequest(opts.redis, `${keyPrefix}tl:${req.ip ?? 'unknown'}`, tokenLimit, now());
    } catch (err) {
      logger.error({ err }, 'token rate limit unavailable (Redis); request allowed');
      return next();
    }
    if (count.allowed) return next();
    logger.warn({ limit: tokenLimit.requests, windowSeconds: tokenLimit.windowSeconds }, 'token endpoint rate limit exceeded');
    res.set('Retry-After', String(count.retryAfter));
    sendOAuthError(res, new OAuthError('temporarily_unavailable', `Too many token requests; retry after ${count.retryAfter} s`), 429);
  };

  const token: RequestHandler = async (req, res) => {
    let clientId: string | undefined;
    try {
      if (!req.is('application/x-www-form-urlencoded')) {
        throw new OAuthError('invalid_request', 'Body must be application/x-www-form-urlencoded');
      }
      const grantType = param(req, 'grant_type');
      if (!grantType) throw new OAuthError('invalid_request', 'grant_type is required');
      if (grantType !== 'client_credentials') throw new OAuthError('unsupported_grant_type', 'Only client_credentials is supported');
      // RFC 6749 §2.3: one authentication method per request.
      if (req.get('authorization') !== undefined || param(req, 'client_secret') !== undefined) {
        throw new OAuthError('invalid_request', 'Authenticate with a client assertion only');
      }
      if (param(req, 'client_assertion_type') !== JWT_BEARER) {
        throw new OAuthError('invalid_client', `client_assertion_type must be ${JWT_BEARER}`);
      }
      const assertion = param(req, 'client_assertion');
      if (!assertion) throw new OAuthError('invalid_client', 'client_assertion is required');
      // RFC 6749 §3.3: no scope and no default → invalid_scope. Checked before the assertion
      // so a request that cannot succeed does not use up the assertion's jti.
      const requested = param(req, 'scope');
      if (!requested) throw new OAuthError('invalid_scope', 'scope is required');

      const verified = await assertions.verify(assertion, param(req, 'client_id'));
      clientId = verified.client.clientId;
      const granted = negotiateScopes(requested, verified.client.scopes);
      if (granted.scopes.length === 0) throw new OAuthError('invalid_scope', 'None of the requested scopes is granted to this client');
      const { accessToken, expiresIn } = await issuer.issue(verified, granted, purposeOfUseOf(verified));
      logger.info({ clientId, organizationId: verified.organization.id, scope: granted.text }, 'access token issued');
      res.set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' });
      // backend-services.md "Issue Access Token": no refresh token.
      res.json({ access_token: accessToken, token_type: 'bearer', expires_in: expiresIn, scope: granted.text });
    } catch (err) {
      if (!(err instanceof OAuthError)) throw err;
      logger.info({ error: err.code, reason: err.reason, clientId }, 'token request refused');
      sendOAuthError(res, err);
    }
  };

  // RFC 7662 + SMART token-introspection.md: the caller authenticates with its own access token.
  const introspect: RequestHandler = async (req, res) => {
    res.set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' });
    const caller = bearerToken(req.get('authorization'));
    try {
      if (!caller) throw new InvalidTokenError('An access token is required');
      await verifier.verify(caller);
    } catch (err) {
      if (!(err instanceof InvalidTokenError)) throw err;
      res.set('WWW-Authenticate', bearerChallenge(err.message));
      res.status(401).json({ error: 'invalid_token', error_description: err.message });
      return;
    }
    const subject = typeof req.body?.token === 'string' ? (req.body.token as string) : undefined;
    if (!subject) return void sendOAuthError(res, new OAuthError('invalid_request', 'token is required'));
    try {
      const { requester, exp, iat } = await verifier.verify(subject);
      res.json({
        active: true,
        scope: requester.scopes.text,
        client_id: requester.clientId,
        sub: requester.clientId,
        iss: urls.issuer,
        aud: urls.fhirBaseUrl,
        exp,
        iat,
        token_type: 'Bearer',
        organization_id: requester.organizationId,
        purpose_of_use: requester.purposeOfUse,
      });
    } catch (err) {
      if (!(err instanceof InvalidTokenError)) throw err;
      res.json({ active: false });
    }
  };

  // Body-parser failures (too large, too many parameters, bad encoding) as RFC 6749 errors;
  // anything else (Redis down) as a JSON 500 rather than whatever the app's handler renders.
  const authErrors: ErrorRequestHandler = (err, _req, res, _next) => {
    const status = (err as { status?: number }).status;
    if (typeof (err as { type?: unknown }).type === 'string' && status !== undefined && status < 500) {
      return sendOAuthError(res, new OAuthError('invalid_request', 'Malformed request body'), status === 413 ? 413 : 400);
    }
    logger.error({ err }, 'auth endpoint failed');
    res.status(500).set('Cache-Control', 'no-store').json({ error: 'server_error', error_description: 'Try again later' });
  };

  const router = express.Router();
  router.post('/auth/token', perAddress, form, token);
  router.post('/auth/introspect', form, introspect);
  router.get(['/.well-known/smart-configuration', '/fhir/.well-known/smart-configuration'], (_req, res) => {
    // conformance.md: application/json whatever the Accept header says.
    res.type('application/json').send(JSON.stringify(discovery));
  });
  router.get('/.well-known/jwks.json', (_req, res) => {
    res.set('Cache-Control', 'public, max-age=300').type('application/json').send(JSON.stringify(opts.keys.publicJwks));
  });
  router.use(authErrors);
  return router;
}
