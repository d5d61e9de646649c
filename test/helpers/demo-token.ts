// An access token from a running gateway for one of the demo clients (config/demo keys), through
// the real token endpoint: a signed client assertion, then client_credentials.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { importJWK, SignJWT, type JWK } from 'jose';

export async function demoToken(gatewayUrl: string, clientId: string, scope: string): Promise<string> {
  const jwk = (JSON.parse(readFileSync(`config/demo/${clientId}.private.jwks.json`, 'utf8')) as { keys: JWK[] }).keys[0];
  const tokenUrl = `${gatewayUrl}/auth/token`;
  const assertion = await new SignJWT({ jti: randomUUID() })
    .setProtectedHeader({ alg: jwk.alg as string, kid: jwk.kid as string, typ: 'JWT' })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(tokenUrl)
    .setExpirationTime('5m')
    .sign(await importJWK(jwk, jwk.alg));
  const res = await fetch(tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      scope,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    }),
  });
  if (res.status !== 200) throw new Error(`token for ${clientId}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}
