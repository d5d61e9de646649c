// OAuth 2.0 token-endpoint errors, RFC 6749 §5.2.
import type { Response } from 'express';

export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  // RFC 6749 §4.1.2.1 defines it for the authorization endpoint; we answer it, with 429, to a
  // caller over the token endpoint's per-address limit.
  | 'temporarily_unavailable';

/**
 * A token-endpoint failure. `description` goes to the client; `reason` only to our logs, so a
 * failed client authentication tells an attacker nothing about which check failed
 * (consent-security.md §4 "the body must be generic").
 */
export class OAuthError extends Error {
  constructor(
    public readonly code: OAuthErrorCode,
    public readonly description: string,
    public readonly reason: string = description,
  ) {
    super(`${code}: ${reason}`);
    this.name = 'OAuthError';
  }

  /** RFC 6749 §5.2: 400, except invalid_client which may be (and here is) 401. */
  get status(): number {
    return this.code === 'invalid_client' ? 401 : 400;
  }
}

/** Every client-authentication failure looks the same from outside (client-confidential-asymmetric.md). */
export function clientAuthFailed(reason: string): OAuthError {
  return new OAuthError('invalid_client', 'Client authentication failed', reason);
}

/** RFC 6749 §5.1/§5.2: JSON body, never cached. */
export function sendOAuthError(res: Response, err: OAuthError, status = err.status): void {
  res
    .status(status)
    .set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' })
    .json({ error: err.code, error_description: err.description });
}
