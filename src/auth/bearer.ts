// Bearer-token guard for the FHIR API (RFC 6750; SMART backend-services.md "Access token"
// — the resource server SHALL validate the token). Sets res.locals.requester.
import type { RequestHandler } from 'express';
import type { Logger } from '../logger.js';
import { InvalidTokenError, type AccessTokenVerifier } from './access-token.js';
import { sendOutcome } from './outcomes.js';

export const BEARER_REALM = 'lead-gateway';

// RFC 6750 §2.1 b64token. Tokens in the query string (§2.3) are not accepted: they end up in logs.
const BEARER_RE = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

/** The token of an `Authorization: Bearer …` header, if well-formed. */
export function bearerToken(authorization: string | undefined): string | undefined {
  return BEARER_RE.exec(authorization ?? '')?.[1];
}

/** RFC 6750 §3 challenge. */
export function bearerChallenge(description: string): string {
  return `Bearer realm="${BEARER_REALM}", error="invalid_token", error_description="${description}"`;
}

export interface RequireBearerOptions {
  verifier: AccessTokenVerifier;
  logger?: Logger;
}

export function requireBearer({ verifier, logger }: RequireBearerOptions): RequestHandler {
  return async (req, res, next) => {
    const token = bearerToken(req.get('authorization'));
    let reason = 'An access token is required';
    if (token) {
      try {
        res.locals.requester = (await verifier.verify(token)).requester;
        return next();
      } catch (err) {
        if (!(err instanceof InvalidTokenError)) return next(err);
        reason = err.message;
      }
    }
    logger?.info({ reason, path: req.baseUrl + req.path }, 'bearer token refused');
    res.set('WWW-Authenticate', bearerChallenge(reason));
    sendOutcome(res, 401, 'login', reason);
  };
}
