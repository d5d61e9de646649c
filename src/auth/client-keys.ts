// Resolves the public key that verifies a client's assertion: from the JWKS registered inline,
// or from the client's registered jwksUri, fetched by us so that caching follows the client's
// Cache-Control (client-confidential-asymmetric.md "Signature Verification": the server SHALL NOT
// cache a JWKS longer than the client's Cache-Control allows; jose's createRemoteJWKSet
// caches for a fixed time, hence our own fetch + createLocalJWKSet).
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWK, type JWTVerifyGetKey } from 'jose';
import type { Logger } from '../logger.js';
import type { PartnerClient } from '../config/partners.js';

export interface ClientKeysOptions {
  logger: Logger;
  /** Abort a JWKS fetch after this long (default 5 s). */
  fetchTimeoutMs?: number;
  /** Refuse a JWKS document larger than this (default 256 KiB). */
  maxJwksBytes?: number;
  /** Cache time when the response has no Cache-Control max-age (default 300 s). */
  defaultMaxAgeSeconds?: number;
  /** Upper bound whatever the response says (default 3600 s). */
  maxMaxAgeSeconds?: number;
  /** An unknown kid refetches the JWKS at most this often (default 10 s), so junk kids cannot make us hammer the client. */
  refetchCooldownMs?: number;
  now?: () => number;
}

interface RemoteSet {
  keys: JWTVerifyGetKey;
  fetchedAt: number;
  expiresAt: number;
}

type KeySelector = (...args: Parameters<JWTVerifyGetKey>) => ReturnType<JWTVerifyGetKey>;

/** Parses Cache-Control into seconds we may cache for (RFC 9111 §5.2.2). */
export function cacheSeconds(header: string | null, fallback: number, ceiling: number): number {
  if (!header) return fallback;
  const directives = header.toLowerCase().split(',').map((d) => d.trim());
  if (directives.includes('no-store') || directives.includes('no-cache')) return 0;
  const maxAge = directives.map((d) => /^max-age=(\d+)$/.exec(d)).find((m) => m)?.[1];
  return maxAge === undefined ? fallback : Math.min(Number(maxAge), ceiling);
}

/**
 * Keeps only public RSA/EC keys with a kid that no other key in the set shares: SMART requires
 * exactly one key per kid, and a private or symmetric key in a JWKS means a broken client.
 */
export function usableKeys(jwks: JSONWebKeySet): { keys: JWK[]; dropped: number } {
  const candidates = jwks.keys.filter(
    (k) => (k.kty === 'RSA' || k.kty === 'EC') && typeof k.kid === 'string' && k.kid !== '' && k.d === undefined,
  );
  const counts = new Map<string, number>();
  for (const k of candidates) counts.set(k.kid!, (counts.get(k.kid!) ?? 0) + 1);
  const keys = candidates.filter((k) => counts.get(k.kid!) === 1);
  return { keys, dropped: jwks.keys.length - keys.length };
}

/** Wraps a jose key set so that several keys matching one kid is a failure, never "try each". */
function exactlyOne(set: JWTVerifyGetKey): KeySelector {
  return async (header, token) => {
    try {
      return await set(header, token);
    } catch (err) {
      if (err instanceof errors.JWKSMultipleMatchingKeys) throw new errors.JWKSInvalid('more than one key matches kid');
      throw err;
    }
  };
}

export class ClientKeys {
  private readonly inline = new WeakMap<PartnerClient, KeySelector>();
  private readonly remote = new Map<string, RemoteSet>();
  private readonly inflight = new Map<string, Promise<RemoteSet>>();
  private readonly opts: Required<ClientKeysOptions>;

  constructor(opts: ClientKeysOptions) {
    this.opts = {
      fetchTimeoutMs: 5000,
      maxJwksBytes: 256 * 1024,
      defaultMaxAgeSeconds: 300,
      maxMaxAgeSeconds: 3600,
      refetchCooldownMs: 10_000,
      now: Date.now,
      ...opts,
    };
  }

  /** A jose key resolver for this client's assertions. */
  resolverFor(client: PartnerClient): KeySelector {
    if (client.jwks) {
      let selector = this.inline.get(client);
      if (!selector) {
        selector = exactlyOne(createLocalJWKSet({ keys: usableKeys(client.jwks).keys }));
        this.inline.set(client, selector);
      }
      return selector;
    }
    const uri = client.jwksUri!;
    return async (header, token) => {
      const set = await this.remoteSet(uri, false);
      try {
        return await exactlyOne(set.keys)(header, token);
      } catch (err) {
        // A rotated key: refetch once, unless we fetched moments ago.
        const stale = this.opts.now() - set.fetchedAt >= this.opts.refetchCooldownMs;
        if (!(err instanceof errors.JWKSNoMatchingKey) || !stale) throw err;
        return exactlyOne((await this.remoteSet(uri, true)).keys)(header, token);
      }
    };
  }

  private remoteSet(uri: string, force: boolean): Promise<RemoteSet> {
    const cached = this.remote.get(uri);
    if (cached && !force && this.opts.now() < cached.expiresAt) return Promise.resolve(cached);
    let pending = this.inflight.get(uri);
    if (!pending) {
      pending = this.fetchSet(uri).finally(() => this.inflight.delete(uri));
      this.inflight.set(uri, pending);
    }
    return pending;
  }

  /** Fetches and caches the set; a failed fetch leaves a still-fresh cached set in place. */
  private async fetchSet(uri: string): Promise<RemoteSet> {
    // client-confidential-asymmetric.md: GET with Accept: application/json, no client auth.
    // Redirects are refused so a registered URL cannot bounce us to an internal address.
    const res = await fetch(uri, {
      headers: { accept: 'application/json' },
      redirect: 'error',
      signal: AbortSignal.timeout(this.opts.fetchTimeoutMs),
    });
    if (!res.ok) throw new errors.JWKSInvalid(`JWKS fetch returned ${res.status}`);
    const body = await readCapped(res, this.opts.maxJwksBytes);
    let jwks: JSONWebKeySet;
    try {
      jwks = JSON.parse(body) as JSONWebKeySet;
    } catch {
      throw new errors.JWKSInvalid('JWKS is not JSON');
    }
    if (!jwks || !Array.isArray(jwks.keys)) throw new errors.JWKSInvalid('JWKS has no keys array');
    const { keys, dropped } = usableKeys(jwks);
    if (dropped) this.opts.logger.warn({ jwksUri: uri, dropped }, 'client JWKS: ignored private, symmetric, kid-less or duplicate-kid keys');
    const fetchedAt = this.opts.now();
    const ttl = cacheSeconds(res.headers.get('cache-control'), this.opts.defaultMaxAgeSeconds, this.opts.maxMaxAgeSeconds);
    const set = { keys: createLocalJWKSet({ keys }), fetchedAt, expiresAt: fetchedAt + ttl * 1000 };
    if (ttl > 0) this.remote.set(uri, set);
    else this.remote.delete(uri);
    return set;
  }
}

async function readCapped(res: Response, max: number): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > max) throw new errors.JWKSInvalid('JWKS too large');
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > max) throw new errors.JWKSInvalid('JWKS too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
