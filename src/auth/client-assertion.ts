// Verifies a SMART Backend Services client assertion (private_key_jwt, RFC 7523 §3).
// Spec: SMART App Launch 2.2 client-confidential-asymmetric.md "Authenticating to the Token
// endpoint" and "Signature Verification". Every failure is `invalid_client` with the same
// description; the specific reason goes to the log only.
import { randomUUID } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, jwtVerify, SignJWT, type CryptoKey, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import type { PartnerDirectory, RegisteredClient } from '../config/partners.js';
import type { ClientKeys } from './client-keys.js';
import type { JtiReplayGuard } from './jti-replay-guard.js';
import { clientAuthFailed } from './oauth-error.js';

/** RS384 and ES384 are the two algorithms SMART names; `none`, HS* and the rest are refused. */
export const ASSERTION_ALGS = ['RS384', 'ES384'] as const;

/** RFC 7523 §2.2 client_assertion_type. */
export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface ClientAssertionOptions {
  directory: PartnerDirectory;
  /** Absolute token URL: the only accepted `aud`. */
  tokenUrl: string;
  keys: ClientKeys;
  replay: JtiReplayGuard;
  /**
   * Clock skew allowed on `exp`/`nbf` and on the 5-minute ceiling (default 60 s): common clients
   * (Inferno, bulk-data-client) set exp to exactly now + 300 s by their own clock.
   */
  clockSkewSeconds?: number;
  /** backend-services.md: exp SHALL be no more than five minutes in the future. */
  maxLifetimeSeconds?: number;
  now?: () => number;
}

export interface VerifiedClient extends RegisteredClient {
  jti: string;
}

const MAX_ASSERTION_CHARS = 8192;

function header(assertion: string): ProtectedHeaderParameters {
  // Compact serialization only: no JWS JSON, no JWE (five segments).
  if (assertion.length > MAX_ASSERTION_CHARS) throw clientAuthFailed('assertion too large');
  if (assertion.split('.').length !== 3) throw clientAuthFailed('not a compact JWS');
  try {
    return decodeProtectedHeader(assertion);
  } catch {
    throw clientAuthFailed('malformed header');
  }
}

function unverifiedClaims(assertion: string): JWTPayload {
  try {
    return decodeJwt(assertion);
  } catch {
    throw clientAuthFailed('malformed payload');
  }
}

export class ClientAssertionVerifier {
  private readonly skew: number;
  private readonly maxLifetime: number;
  private readonly now: () => number;

  constructor(private readonly opts: ClientAssertionOptions) {
    this.skew = opts.clockSkewSeconds ?? 60;
    this.maxLifetime = opts.maxLifetimeSeconds ?? 300;
    this.now = opts.now ?? Date.now;
  }

  /**
   * Authenticates the client; throws OAuthError(invalid_client) on any failure.
   * @param formClientId the optional `client_id` form parameter, which must then equal `iss`.
   */
  async verify(assertion: string, formClientId?: string): Promise<VerifiedClient> {
    const hdr = header(assertion);
    if (!ASSERTION_ALGS.includes(hdr.alg as (typeof ASSERTION_ALGS)[number])) throw clientAuthFailed('alg not allowed');
    if (hdr.typ !== 'JWT') throw clientAuthFailed('typ is not JWT');
    if (typeof hdr.kid !== 'string' || hdr.kid === '' || hdr.kid.length > 256) throw clientAuthFailed('kid missing or too long');
    // Never trust a key carried by the token itself (consent-security.md §4.1 J8).
    if (hdr.jwk !== undefined || hdr.x5c !== undefined || hdr.x5u !== undefined) throw clientAuthFailed('embedded key');

    // Only to find the client; nothing in the payload is trusted before the signature check.
    const { iss } = unverifiedClaims(assertion);
    const registered = typeof iss === 'string' ? this.opts.directory.findClient(iss) : undefined;
    if (!registered) throw clientAuthFailed('unknown client');
    const { client } = registered;
    if (formClientId !== undefined && formClientId !== client.clientId) throw clientAuthFailed('client_id does not match iss');
    // "If the jku header is present, verify that the jku is whitelisted" — i.e. it is the registered URL.
    if (hdr.jku !== undefined && (client.jwksUri === undefined || hdr.jku !== client.jwksUri)) {
      throw clientAuthFailed('jku is not the registered JWKS URL');
    }

    const nowMs = this.now();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(assertion, this.opts.keys.resolverFor(client), {
        algorithms: [...ASSERTION_ALGS],
        issuer: client.clientId,
        subject: client.clientId,
        audience: this.opts.tokenUrl,
        typ: 'JWT',
        requiredClaims: ['exp', 'jti'],
        clockTolerance: this.skew,
        currentDate: new Date(nowMs),
      }));
    } catch (err) {
      throw clientAuthFailed(`verification failed: ${(err as { code?: string }).code ?? (err as Error).name}`);
    }

    const nowSec = nowMs / 1000;
    const exp = payload.exp!;
    // jose does not cap how far ahead exp may be.
    if (exp - nowSec > this.maxLifetime + this.skew) throw clientAuthFailed('exp more than 5 minutes ahead');
    // jose checks iat only with maxTokenAge (which would make iat required; SMART does not).
    if (payload.iat !== undefined && payload.iat > nowSec + this.skew) throw clientAuthFailed('iat in the future');
    const jti = payload.jti;
    if (typeof jti !== 'string' || jti === '' || jti.length > 255) throw clientAuthFailed('jti missing or too long');
    // Remember the jti until the assertion could no longer be accepted anyway.
    const claimed = await this.opts.replay.claim(client.clientId, jti, (exp - nowSec + this.skew) * 1000);
    if (!claimed) throw clientAuthFailed('jti replayed');
    return { ...registered, jti };
  }
}

/**
 * Signs a client assertion as a SMART client (ours to partners, the CLI, benchmarks):
 * iss = sub = client_id, aud = the token URL, a fresh jti, kid and typ in the header.
 * `lifetimeSeconds` defaults to 240: under the 5-minute ceiling with room for a server whose
 * clock runs behind ours.
 */
export function signClientAssertion(opts: {
  clientId: string;
  tokenUrl: string;
  key: { alg: string; kid: string; privateKey: CryptoKey | Uint8Array };
  lifetimeSeconds?: number;
  now?: () => number;
}): Promise<string> {
  const nowSec = Math.floor((opts.now ?? Date.now)() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: opts.key.alg, kid: opts.key.kid, typ: 'JWT' })
    .setIssuer(opts.clientId)
    .setSubject(opts.clientId)
    .setAudience(opts.tokenUrl)
    .setExpirationTime(nowSec + (opts.lifetimeSeconds ?? 240))
    .setJti(randomUUID())
    .sign(opts.key.privateKey);
}
