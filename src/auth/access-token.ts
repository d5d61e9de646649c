// The gateway's access tokens: JWTs (RFC 9068 shape) signed with the gateway key, so any
// gateway process holding the same keys verifies them without shared state.
//
// RS384 by default: an RS384 verify costs ~1/10 of an ES384 verify (perf-ceilings.md: 13,800 vs
// 1,400 per core), and every API request verifies a token. Verified tokens are also cached until
// they expire, so a client reusing its token pays for the signature once.
import { randomUUID } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import type { OrganizationType, PartnerDirectory, RegisteredClient } from '../config/partners.js';
import type { GatewayKeys, SigningAlg } from './gateway-keys.js';
import type { Requester } from './requester.js';
import { parseGrantedScopes, type GrantedScopes } from './scopes.js';

/** Claims beyond the registered JWT ones; `organization_id`/`purpose_of_use` follow the B2B precedent. */
interface AccessTokenClaims {
  client_id: string;
  scope: string;
  organization_id: string;
  purpose_of_use: string;
}

export interface IssuedToken {
  accessToken: string;
  expiresIn: number;
}

export interface AccessTokenOptions {
  keys: GatewayKeys;
  issuer: string;
  audience: string;
  now?: () => number;
}

export class AccessTokenIssuer {
  constructor(
    private readonly opts: AccessTokenOptions & {
      alg?: SigningAlg;
      /** backend-services.md: expires_in SHOULD NOT exceed 300. */
      lifetimeSeconds?: number;
    },
  ) {}

  async issue(registered: RegisteredClient, scopes: GrantedScopes, purposeOfUse: string): Promise<IssuedToken> {
    const key = this.opts.keys.signing[this.opts.alg ?? 'RS384'];
    const lifetime = Math.min(this.opts.lifetimeSeconds ?? 300, 300);
    const iat = Math.floor((this.opts.now ?? Date.now)() / 1000);
    const claims: AccessTokenClaims = {
      client_id: registered.client.clientId,
      scope: scopes.text,
      organization_id: registered.organization.id,
      purpose_of_use: purposeOfUse,
    };
    const accessToken = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
      .setIssuer(this.opts.issuer)
      .setAudience(this.opts.audience)
      .setSubject(registered.client.clientId)
      .setIssuedAt(iat)
      .setExpirationTime(iat + lifetime)
      .setJti(randomUUID())
      .sign(key.privateKey);
    return { accessToken, expiresIn: lifetime };
  }
}

/** Why a bearer token was refused; the message is safe to show the client. */
export class InvalidTokenError extends Error {
  override name = 'InvalidTokenError';
}

export interface VerifiedToken {
  requester: Requester;
  /** Expiry, epoch seconds. */
  exp: number;
  iat: number;
  jti: string;
}

export class AccessTokenVerifier {
  private readonly cache = new Map<string, VerifiedToken>();
  private readonly now: () => number;
  private readonly cacheSize: number;

  constructor(
    private readonly opts: AccessTokenOptions & {
      directory: PartnerDirectory;
      /** Verified tokens remembered until they expire; 0 disables the cache (default 10,000). */
      cacheSize?: number;
    },
  ) {
    this.now = opts.now ?? Date.now;
    this.cacheSize = opts.cacheSize ?? 10_000;
  }

  /** Verifies one of our access tokens; throws InvalidTokenError. */
  async verify(token: string): Promise<VerifiedToken> {
    const nowMs = this.now();
    const hit = this.cache.get(token);
    if (hit) {
      if (nowMs < hit.exp * 1000) return hit;
      this.cache.delete(token);
    }
    const verified = await this.verifySignature(token, nowMs);
    if (this.cacheSize > 0) {
      // Oldest-first eviction is enough: entries die within 5 minutes anyway.
      if (this.cache.size >= this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(token, verified);
    }
    return verified;
  }

  private async verifySignature(token: string, nowMs: number): Promise<VerifiedToken> {
    let payload;
    try {
      ({ payload } = await jwtVerify<AccessTokenClaims>(token, this.opts.keys.verifyKeys, {
        algorithms: ['RS384', 'ES384'],
        issuer: this.opts.issuer,
        audience: this.opts.audience,
        typ: 'at+jwt',
        requiredClaims: ['exp', 'iat', 'jti', 'client_id', 'scope', 'organization_id', 'purpose_of_use'],
        currentDate: new Date(nowMs),
      }));
    } catch (err) {
      const code = (err as { code?: string }).code;
      throw new InvalidTokenError(code === 'ERR_JWT_EXPIRED' ? 'The access token expired' : 'The access token is not valid');
    }
    // A client removed from the directory (and restarted gateway) loses access at once.
    const registered = this.opts.directory.findClient(String(payload.client_id));
    if (!registered || registered.organization.id !== payload.organization_id) {
      throw new InvalidTokenError('The access token is not valid');
    }
    const organizationType: OrganizationType = registered.organization.type;
    return {
      requester: {
        clientId: registered.client.clientId,
        organizationId: registered.organization.id,
        organizationType,
        scopes: parseGrantedScopes(String(payload.scope)),
        purposeOfUse: String(payload.purpose_of_use),
      },
      exp: payload.exp!,
      iat: payload.iat!,
      jti: String(payload.jti),
    };
  }
}
