// `lead-gateway token`: obtain an access token from a running gateway by hand — signs a SMART
// client assertion with a client's private JWKS and posts it to the token endpoint.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { importJWK, SignJWT, type JSONWebKeySet } from 'jose';
import { JWT_BEARER } from '../auth/client-assertion.js';

export interface TokenOptions {
  /** client_id registered in the partner directory. */
  client: string;
  /** The client's private JWKS (as printed by `keys generate`, or config/demo/<client>.private.jwks.json). */
  keyFile: string;
  /** The gateway's absolute token URL, e.g. http://127.0.0.1:8080/auth/token. */
  tokenUrl: string;
  scope: string;
  print?: (line: string) => void;
}

export async function token(opts: TokenOptions): Promise<Record<string, unknown>> {
  const print = opts.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const jwks = JSON.parse(readFileSync(opts.keyFile, 'utf8')) as JSONWebKeySet;
  const jwk = jwks.keys.find((k) => (k.alg === 'ES384' || k.alg === 'RS384') && k.d !== undefined && k.kid);
  if (!jwk) throw new Error(`${opts.keyFile} holds no private ES384 or RS384 key with a kid`);
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: jwk.alg!, kid: jwk.kid, typ: 'JWT' })
    .setIssuer(opts.client)
    .setSubject(opts.client)
    .setAudience(opts.tokenUrl)
    .setExpirationTime('4m')
    .setJti(randomUUID())
    .sign(await importJWK(jwk, jwk.alg));
  const res = await fetch(opts.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      scope: opts.scope,
      client_assertion_type: JWT_BEARER,
      client_assertion: assertion,
    }),
  });
  const body = (await res.json().catch(() => ({ error: `HTTP ${res.status}, not JSON` }))) as Record<string, unknown>;
  print(JSON.stringify(body, null, 2));
  if (!res.ok) throw new Error(`Token request failed: HTTP ${res.status} ${String(body.error ?? '')}`.trim());
  return body;
}
