// `lead-gateway token`: obtain an access token from a running gateway by hand — signs a SMART
// client assertion with a client's private JWKS and posts it to the token endpoint.
import { readFileSync } from 'node:fs';
import { importJWK, type CryptoKey, type JSONWebKeySet } from 'jose';
import { signClientAssertion } from '../auth/client-assertion.js';
import { postTokenRequest } from '../auth/outbound-client.js';

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
  const privateKey = (await importJWK(jwk, jwk.alg)) as CryptoKey;
  const assertion = await signClientAssertion({ clientId: opts.client, tokenUrl: opts.tokenUrl, key: { alg: jwk.alg!, kid: jwk.kid!, privateKey } });
  const { status, body } = await postTokenRequest(opts.tokenUrl, assertion, opts.scope);
  print(JSON.stringify(body, null, 2));
  if (status !== 200) throw new Error(`Token request failed: HTTP ${status} ${String(body.error ?? '')}`.trim());
  return body;
}
