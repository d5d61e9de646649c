// POST /auth/token over real HTTP on loopback, with real Redis: SMART App Launch 2.2 Backend
// Services, and the adversarial list of consent-security.md §4.1 — each case asserts the exact
// RFC 6749 §5.2 error and status, and (from the log) that it failed for the intended reason.
import { randomUUID } from 'node:crypto';
import express from 'express';
import { jwtVerify, type JWK } from 'jose';
import { gatewayKeysFromJwks, generatePrivateJwk } from '../../../src/auth/gateway-keys.js';
import { createAuthRouter } from '../../../src/auth/token-server.js';
import { JWT_BEARER } from '../../../src/auth/client-assertion.js';
import {
  capturingLogger,
  cleanupPrefix,
  directory,
  listen,
  newClient,
  newRedis,
  postForm,
  publicJwks,
  signAssertion,
  tokenRequest,
  uniquePrefix,
  type GatewayKeys,
  type Listening,
  type TestClient,
} from './helpers.js';

const redis = newRedis();
const prefix = uniquePrefix('token-endpoint');
const { logger, lines } = capturingLogger();
let keys: GatewayKeys;
let es: TestClient; // ES384, inline JWKS
let rs: TestClient; // RS384, inline JWKS
let remote: TestClient; // ES384, keys at a jwksUri
let other: TestClient; // another organization's client
let jwksServer: Listening;
let served: { keys: JWK[] };
let jwksFetches = 0;
let noStoreFetches = 0;
let flakyFetches = 0;
let server: Listening;
let second: Listening; // a second gateway process: same BASE_URL, same Redis
let tokenUrl: string;

function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

/** The reason logged for the most recent refusal. */
function lastReason(): unknown {
  return [...lines].reverse().find((l) => l.msg === 'token request refused')?.reason;
}

beforeAll(async () => {
  keys = await gatewayKeysFromJwks({ keys: [await generatePrivateJwk('ES384'), await generatePrivateJwk('RS384')] }, 'test');
  [es, rs, remote, other] = await Promise.all([
    newClient('es-client', 'ES384'),
    newClient('rs-client', 'RS384'),
    newClient('remote-client', 'ES384'),
    newClient('other-client', 'ES384'),
  ]);
  served = publicJwks(remote) as { keys: JWK[] };
  jwksServer = await listen(() =>
    express().get('/jwks.json', (_req, res) => {
      jwksFetches += 1;
      res.set('Cache-Control', 'max-age=60').json(served);
    }).get('/flaky.json', (_req, res) => {
      // Serves the keys once, then fails.
      flakyFetches += 1;
      if (flakyFetches === 1) res.set('Cache-Control', 'max-age=60').json(publicJwks(remote));
      else res.status(500).end();
    }).get('/no-store.json', (_req, res) => {
      noStoreFetches += 1;
      res.set('Cache-Control', 'no-store').json(publicJwks(remote));
    }),
  );
  const partners = directory([
    {
      id: 'aco-test',
      type: 'ACO',
      clients: [
        { clientId: es.clientId, jwks: publicJwks(es), scopes: ['system/Patient.rs', 'system/Observation.rs'] },
        { clientId: rs.clientId, jwks: publicJwks(rs), scopes: ['system/*.read'] },
        { clientId: remote.clientId, jwksUri: `${jwksServer.baseUrl}/jwks.json`, scopes: ['system/*.cruds'] },
        { clientId: 'no-store-client', jwksUri: `${jwksServer.baseUrl}/no-store.json`, scopes: ['system/*.cruds'] },
      ],
    },
    { id: 'mco-test', type: 'MCO', clients: [{ clientId: other.clientId, jwks: publicJwks(other), scopes: ['system/Patient.rs'] }] },
  ]);
  const common = { partners, keys, redis, logger, keyPrefix: prefix, jwks: { refetchCooldownMs: 0 } };
  server = await listen((baseUrl) => express().use(createAuthRouter({ ...common, config: { baseUrl } })));
  tokenUrl = `${server.baseUrl}/auth/token`;
  second = await listen(() => express().use(createAuthRouter({ ...common, config: { baseUrl: server.baseUrl } })));
});

afterAll(async () => {
  await Promise.all([server?.close(), second?.close(), jwksServer?.close()]);
  await cleanupPrefix(redis, prefix);
  await redis.quit();
});

describe('token endpoint: successful requests', () => {
  it('issues a short-lived bearer token for an ES384 client with an inline JWKS', async () => {
    const res = await postForm(tokenUrl, tokenRequest(await signAssertion(es, tokenUrl), 'system/Patient.rs'));
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.body).toEqual({ access_token: expect.any(String), token_type: 'bearer', expires_in: 300, scope: 'system/Patient.rs' });
    const { payload, protectedHeader } = await jwtVerify(res.body.access_token as string, keys.verifyKeys, {
      issuer: server.baseUrl,
      audience: `${server.baseUrl}/fhir`,
    });
    expect(protectedHeader).toMatchObject({ alg: 'RS384', typ: 'at+jwt', kid: keys.signing.RS384.kid });
    expect(payload).toMatchObject({ client_id: es.clientId, sub: es.clientId, organization_id: 'aco-test', purpose_of_use: 'TREAT' });
    expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(300);
  });

  it('issues a token for an RS384 client and answers a v1 scope in v1 form', async () => {
    const res = await postForm(tokenUrl, tokenRequest(await signAssertion(rs, tokenUrl), 'system/*.read'));
    expect(res.status).toBe(200);
    expect(res.body.scope).toBe('system/*.read');
  });

  it('accepts exp exactly now + 300 s, and a little more within the clock-skew allowance', async () => {
    const now = Math.floor(Date.now() / 1000);
    for (const exp of [now + 300, now + 340]) {
      const res = await postForm(tokenUrl, tokenRequest(await signAssertion(es, tokenUrl, { claims: { exp } }), 'system/Patient.rs'));
      expect(res.status).toBe(200);
    }
  });

  it('grants the intersection of requested and registered scopes', async () => {
    const res = await postForm(
      tokenUrl,
      tokenRequest(await signAssertion(es, tokenUrl), 'system/*.cruds system/Condition.rs patient/Patient.rs'),
    );
    expect(res.status).toBe(200);
    expect(res.body.scope).toBe('system/Patient.rs system/Observation.rs');
  });

  it('verifies a client whose keys are served from its jwksUri, caching per Cache-Control', async () => {
    jwksFetches = 0;
    for (let i = 0; i < 2; i++) {
      const res = await postForm(tokenUrl, tokenRequest(await signAssertion(remote, tokenUrl), 'system/Patient.rs'));
      expect(res.status).toBe(200);
    }
    expect(jwksFetches).toBe(1);
  });

  it('accepts a jku header equal to the registered jwksUri', async () => {
    const jku = `${jwksServer.baseUrl}/jwks.json`;
    const res = await postForm(tokenUrl, tokenRequest(await signAssertion(remote, tokenUrl, { header: { jku } }), 'system/Patient.rs'));
    expect(res.status).toBe(200);
  });

  it('refetches the jwksUri once when a rotated kid appears', async () => {
    const rotated = await newClient(remote.clientId, 'ES384');
    served = { keys: [...served.keys, ...(publicJwks(rotated).keys as JWK[])] };
    const before = jwksFetches;
    const res = await postForm(tokenUrl, tokenRequest(await signAssertion(rotated, tokenUrl), 'system/Patient.rs'));
    expect(res.status).toBe(200);
    expect(jwksFetches).toBe(before + 1);
  });

  it('does not cache a JWKS served with no-store', async () => {
    const noStore: TestClient = { clientId: 'no-store-client', privateJwk: remote.privateJwk };
    for (let i = 0; i < 2; i++) {
      expect((await postForm(tokenUrl, tokenRequest(await signAssertion(noStore, tokenUrl), 'system/Patient.rs'))).status).toBe(200);
    }
    expect(noStoreFetches).toBe(2);
  });
});

interface Case {
  name: string;
  params: () => Promise<Record<string, string>>;
  status: number;
  error: string;
  reason?: string | RegExp;
}

const scope = 'system/Patient.rs';

/** An unsigned token with a chosen header and the standard claims of `client`. */
function unsigned(client: TestClient, header: Record<string, unknown>, aud: string): string {
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: client.clientId, sub: client.clientId, aud, exp: now + 300, jti: randomUUID() };
  return `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}.`;
}

const cases: Case[] = [
  ...['none', 'None', 'NONE', 'nOnE'].map(
    (alg): Case => ({
      name: `alg ${alg} with an empty signature`,
      params: async () => tokenRequest(unsigned(es, { alg, typ: 'JWT', kid: es.privateJwk.kid }, tokenUrl), scope),
      status: 401,
      error: 'invalid_client',
      reason: 'alg not allowed',
    }),
  ),
  {
    name: 'HS256 signed with the client public key (JWK JSON) as the HMAC secret',
    params: async () => {
      const secret = JSON.stringify(publicJwks(rs).keys[0]);
      const key: JWK = { kty: 'oct', k: base64url(secret), alg: 'HS256' };
      return tokenRequest(await signAssertion(rs, tokenUrl, { key, header: { alg: 'HS256' } }), scope);
    },
    status: 401,
    error: 'invalid_client',
    reason: 'alg not allowed',
  },
  {
    name: 'HS384 signed with the RSA public key PEM as the HMAC secret',
    params: async () => {
      const { createPublicKey } = await import('node:crypto');
      const pem = createPublicKey({ key: publicJwks(rs).keys[0] as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
      const key: JWK = { kty: 'oct', k: base64url(pem), alg: 'HS384' };
      return tokenRequest(await signAssertion(rs, tokenUrl, { key, header: { alg: 'HS384' } }), scope);
    },
    status: 401,
    error: 'invalid_client',
    reason: 'alg not allowed',
  },
  {
    name: 'RS256 (a valid algorithm outside the allow-list)',
    params: async () => {
      const { alg: _alg, ...jwk } = rs.privateJwk;
      return tokenRequest(await signAssertion(rs, tokenUrl, { key: { ...jwk, alg: 'RS256' }, header: { alg: 'RS256' } }), scope);
    },
    status: 401,
    error: 'invalid_client',
    reason: 'alg not allowed',
  },
  {
    name: 'an unregistered kid',
    params: async () => tokenRequest(await signAssertion(es, tokenUrl, { header: { kid: 'not-registered' } }), scope),
    status: 401,
    error: 'invalid_client',
    reason: 'verification failed: ERR_JWKS_NO_MATCHING_KEY',
  },
  {
    name: "a kid from another client's JWKS, signed with that client's key",
    params: async () =>
      tokenRequest(await signAssertion(es, tokenUrl, { key: other.privateJwk, header: { kid: other.privateJwk.kid } }), scope),
    status: 401,
    error: 'invalid_client',
    reason: 'verification failed: ERR_JWKS_NO_MATCHING_KEY',
  },
  {
    name: 'alg ES384 naming the kid of an RSA key',
    params: async () =>
      tokenRequest(await signAssertion(rs, tokenUrl, { key: es.privateJwk, header: { alg: 'ES384', kid: rs.privateJwk.kid } }), scope),
    status: 401,
    error: 'invalid_client',
    reason: 'verification failed: ERR_JWKS_NO_MATCHING_KEY',
  },
  {
    name: 'no kid',
    params: async () => tokenRequest(await signAssertion(es, tokenUrl, { header: { kid: undefined } }), scope),
    status: 401,
    error: 'invalid_client',
    reason: 'kid missing or too long',
  },
  {
    name: 'a 10 KB kid',
    params: async () => tokenRequest(await signAssertion(es, tokenUrl, { header: { kid: 'k'.repeat(10 * 1024) } }), scope),
    status: 401,
    error: 'invalid_client',
    reason: 'assertion too large', // the 8 KB cap applies before the header is decoded
  },
  {
    name: 'typ other than JWT',
    params: async () => tokenRequest(await signAssertion(es, tokenUrl, { header: { typ: 'at+jwt' } }), scope),
    status: 401,
    error: 'invalid_client',
    reason: 'typ is not JWT',
  },
  {
    name: 'a jku that is not the registered JWKS URL',
    params: async () => tokenRequest(await signAssertion(es, tokenUrl, { header: { jku: 'http://127.0.0.1:1/evil.json' } }), scope),
    status: 401,
    error: 'invalid_client',
    reason: 'jku is not the registered JWKS URL',
  },
  {
    name: 'an embedded jwk header',
    params: async () => tokenRequest(await signAssertion(es, tokenUrl, { header: { jwk: publicJwks(es).keys[0] } }), scope),
    status: 401,
    error: 'invalid_client',
    reason: 'embedded key',
  },
  {
    name: 'a tampered payload',
    params: async () => {
      const [h, , s] = (await signAssertion(es, tokenUrl)).split('.');
      const now = Math.floor(Date.now() / 1000);
      const p = base64url(JSON.stringify({ iss: es.clientId, sub: es.clientId, aud: tokenUrl, exp: now + 200, jti: randomUUID() }));
      return tokenRequest(`${h}.${p}.${s}`, scope);
    },
    status: 401,
    error: 'invalid_client',
    reason: 'verification failed: ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
  },
  {
    name: 'an unknown iss (unregistered client)',
    params: async () => tokenRequest(await signAssertion(es, tokenUrl, { claims: { iss: 'nobody', sub: 'nobody' } }), scope),
    status: 401,
    error: 'invalid_client',
    reason: 'unknown client',
  },
  {
    name: 'iss of another registered client',
    params: async () => tokenRequest(await signAssertion(es, tokenUrl, { claims: { iss: other.clientId } }), scope),
    status: 401,
    error: 'invalid_client',
    reason: 'verification failed: ERR_JWKS_NO_MATCHING_KEY',
  },
  {
    name: 'sub different from iss',
    params: async () => tokenRequest(await signAssertion(es, tokenUrl, { claims: { sub: other.clientId } }), scope),
    status: 401,
    error: 'invalid_client',
    reason: 'verification failed: ERR_JWT_CLAIM_VALIDATION_FAILED',
  },
  {
    name: 'a client_id form parameter different from iss',
    params: async () => tokenRequest(await signAssertion(es, tokenUrl), scope, { client_id: other.clientId }),
    status: 401,
    error: 'invalid_client',
    reason: 'client_id does not match iss',
  },
  {
    name: 'aud of another server',
    params: async () => tokenRequest(await signAssertion(es, 'https://other.example.org/auth/token'), scope),
    status: 401,
    error: 'invalid_client',
    reason: 'verification failed: ERR_JWT_CLAIM_VALIDATION_FAILED',
  },
  {
    name: 'aud of the FHIR base URL instead of the token URL',
    params: async () => tokenRequest(await signAssertion(es, `${server.baseUrl}/fhir`), scope),
    status: 401,
    error: 'invalid_client',
    reason: 'verification failed: ERR_JWT_CLAIM_VALIDATION_FAILED',
  },
  {
    name: 'aud with a trailing slash',
    params: async () => tokenRequest(await signAssertion(es, `${tokenUrl}/`), scope),
    status: 401,
    error: 'invalid_client',
    reason: 'verification failed: ERR_JWT_CLAIM_VALIDATION_FAILED',
  },
  {
    name: 'an expired assertion (beyond the skew allowance)',
    params: async () =>
      tokenRequest(await signAssertion(es, tokenUrl, { claims: { exp: Math.floor(Date.now() / 1000) - 120 } }), scope),
    status: 401,
    error: 'invalid_client',
    reason: 'verification failed: ERR_JWT_EXPIRED',
  },
  {
    name: 'exp more than 5 minutes (plus skew) ahead',
    params: async () =>
      tokenRequest(await signAssertion(es, tokenUrl, { claims: { exp: Math.floor(Date.now() / 1000) + 420 } }), scope),
    status: 401,
    error: 'invalid_client',
    reason: 'exp more than 5 minutes ahead',
  },
  {
    name: 'iat in the future beyond the skew',
    params: async () =>
      tokenRequest(await signAssertion(es, tokenUrl, { claims: { iat: Math.floor(Date.now() / 1000) + 200 } }), scope),
    status: 401,
    error: 'invalid_client',
    reason: 'iat in the future',
  },
  {
    name: 'nbf in the future beyond the skew',
    params: async () =>
      tokenRequest(await signAssertion(es, tokenUrl, { claims: { nbf: Math.floor(Date.now() / 1000) + 200 } }), scope),
    status: 401,
    error: 'invalid_client',
    reason: 'verification failed: ERR_JWT_CLAIM_VALIDATION_FAILED',
  },
  {
    name: 'exp as a string',
    params: async () => tokenRequest(await signAssertion(es, tokenUrl, { claims: { exp: '9999999999' as unknown as number } }), scope),
    status: 401,
    error: 'invalid_client',
    reason: 'verification failed: ERR_JWT_CLAIM_VALIDATION_FAILED',
  },
  {
    name: 'no exp',
    params: async () => tokenRequest(await signAssertion(es, tokenUrl, { claims: { exp: undefined } }), scope),
    status: 401,
    error: 'invalid_client',
    reason: 'verification failed: ERR_JWT_CLAIM_VALIDATION_FAILED',
  },
  {
    name: 'no jti',
    params: async () => tokenRequest(await signAssertion(es, tokenUrl, { claims: { jti: undefined } }), scope),
    status: 401,
    error: 'invalid_client',
    reason: 'verification failed: ERR_JWT_CLAIM_VALIDATION_FAILED',
  },
  {
    name: 'a malformed assertion (two segments)',
    params: async () => tokenRequest('eyJhbGciOiJSUzM4NCJ9.eyJpc3MiOiJ4In0', scope),
    status: 401,
    error: 'invalid_client',
    reason: 'not a compact JWS',
  },
  {
    name: 'a missing client_assertion_type',
    params: async () => {
      const { client_assertion_type: _omit, ...rest } = tokenRequest(await signAssertion(es, tokenUrl), scope);
      return rest;
    },
    status: 401,
    error: 'invalid_client',
  },
  {
    name: 'a wrong client_assertion_type',
    params: async () =>
      tokenRequest(await signAssertion(es, tokenUrl), scope, { client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer' }),
    status: 401,
    error: 'invalid_client',
  },
  {
    name: 'a missing client_assertion',
    params: async () => ({ grant_type: 'client_credentials', client_assertion_type: JWT_BEARER, scope }),
    status: 401,
    error: 'invalid_client',
  },
  {
    name: 'grant_type other than client_credentials',
    params: async () => tokenRequest(await signAssertion(es, tokenUrl), scope, { grant_type: 'not_a_grant_type' }),
    status: 400,
    error: 'unsupported_grant_type',
  },
  {
    name: 'grant_type authorization_code',
    params: async () => tokenRequest(await signAssertion(es, tokenUrl), scope, { grant_type: 'authorization_code' }),
    status: 400,
    error: 'unsupported_grant_type',
  },
  {
    name: 'no grant_type',
    params: async () => {
      const { grant_type: _omit, ...rest } = tokenRequest(await signAssertion(es, tokenUrl), scope);
      return rest;
    },
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'a client_secret next to the assertion',
    params: async () => tokenRequest(await signAssertion(es, tokenUrl), scope, { client_secret: 'x' }),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'a scope entirely outside the registration',
    params: async () => tokenRequest(await signAssertion(es, tokenUrl), 'system/Condition.rs system/Patient.cud'),
    status: 400,
    error: 'invalid_scope',
  },
  {
    name: 'no scope',
    params: async () => {
      const { scope: _omit, ...rest } = tokenRequest(await signAssertion(es, tokenUrl), scope);
      return rest;
    },
    status: 400,
    error: 'invalid_scope',
  },
  {
    name: 'a finer-grained scope (?param=), which is never widened',
    params: async () => tokenRequest(await signAssertion(es, tokenUrl), 'system/Observation.rs?category=laboratory'),
    status: 400,
    error: 'invalid_scope',
  },
];

describe('token endpoint: adversarial requests', () => {
  it.each(cases)('rejects $name', async ({ params, status, error, reason }) => {
    const res = await postForm(tokenUrl, await params());
    expect({ status: res.status, error: res.body.error }).toEqual({ status, error });
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.body).not.toHaveProperty('access_token');
    // Which check failed is for our log only (consent-security.md §4).
    if (reason) expect(res.body.error_description).toBe('Client authentication failed');
    if (reason) expect(lastReason()).toEqual(reason);
  });

  it('rejects a replayed jti', async () => {
    const assertion = await signAssertion(es, tokenUrl);
    expect((await postForm(tokenUrl, tokenRequest(assertion, scope))).status).toBe(200);
    const replay = await postForm(tokenUrl, tokenRequest(assertion, scope));
    expect({ status: replay.status, error: replay.body.error }).toEqual({ status: 401, error: 'invalid_client' });
    expect(lastReason()).toBe('jti replayed');
  });

  it('rejects a jti replayed against a second gateway process sharing Redis', async () => {
    const assertion = await signAssertion(es, tokenUrl);
    expect((await postForm(tokenUrl, tokenRequest(assertion, scope))).status).toBe(200);
    const replay = await postForm(`${second.baseUrl}/auth/token`, tokenRequest(assertion, scope));
    expect({ status: replay.status, error: replay.body.error }).toEqual({ status: 401, error: 'invalid_client' });
    expect(lastReason()).toBe('jti replayed');
  });

  it('rejects a reused jti with a new exp', async () => {
    const jti = randomUUID();
    expect((await postForm(tokenUrl, tokenRequest(await signAssertion(es, tokenUrl, { claims: { jti } }), scope))).status).toBe(200);
    const exp = Math.floor(Date.now() / 1000) + 200;
    const again = await postForm(tokenUrl, tokenRequest(await signAssertion(es, tokenUrl, { claims: { jti, exp } }), scope));
    expect({ status: again.status, error: again.body.error }).toEqual({ status: 401, error: 'invalid_client' });
  });

  it('lets another client use the same jti (replay is tracked per iss)', async () => {
    const jti = randomUUID();
    expect((await postForm(tokenUrl, tokenRequest(await signAssertion(es, tokenUrl, { claims: { jti } }), scope))).status).toBe(200);
    expect((await postForm(tokenUrl, tokenRequest(await signAssertion(other, tokenUrl, { claims: { jti } }), scope))).status).toBe(200);
  });

  it('rejects a repeated parameter', async () => {
    const params = new URLSearchParams(tokenRequest(await signAssertion(es, tokenUrl), scope));
    params.append('grant_type', 'client_credentials');
    const res = await fetch(tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: params });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_request');
  });

  it('rejects a JSON body', async () => {
    const res = await fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(tokenRequest(await signAssertion(es, tokenUrl), scope)),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_request');
  });

  it('rejects an oversized body before parsing it', async () => {
    const res = await fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=client_credentials&client_assertion=${'a'.repeat(64 * 1024)}`,
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_request');
  });

  it('gives the same body for an unknown client and a bad signature', async () => {
    const unknown = await postForm(tokenUrl, tokenRequest(await signAssertion(es, tokenUrl, { claims: { iss: 'nobody', sub: 'nobody' } }), scope));
    const badKid = await postForm(tokenUrl, tokenRequest(await signAssertion(es, tokenUrl, { header: { kid: 'zzz' } }), scope));
    expect(unknown.body).toEqual(badKid.body);
  });
});

describe('discovery and keys', () => {
  it('serves the SMART configuration at the FHIR base and at the root as application/json', async () => {
    for (const path of ['/fhir/.well-known/smart-configuration', '/.well-known/smart-configuration']) {
      const res = await fetch(`${server.baseUrl}${path}`, { headers: { accept: 'application/fhir+json' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const doc = (await res.json()) as Record<string, unknown>;
      expect(doc).toMatchObject({
        token_endpoint: tokenUrl,
        grant_types_supported: ['client_credentials'],
        token_endpoint_auth_methods_supported: ['private_key_jwt'],
        token_endpoint_auth_signing_alg_values_supported: expect.arrayContaining(['RS384', 'ES384']),
        capabilities: expect.arrayContaining(['client-confidential-asymmetric', 'permission-v2', 'permission-v1']),
        scopes_supported: expect.arrayContaining(['system/*.rs', 'system/*.read']),
        code_challenge_methods_supported: ['S256'],
      });
      expect(doc).not.toHaveProperty('authorization_endpoint');
    }
  });

  it('serves the public gateway keys, and only public members', async () => {
    const res = await fetch(`${server.baseUrl}/.well-known/jwks.json`);
    expect(res.status).toBe(200);
    const jwks = (await res.json()) as { keys: JWK[] };
    expect(jwks.keys.map((k) => k.alg).sort()).toEqual(['ES384', 'RS384']);
    for (const k of jwks.keys) for (const m of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(k).not.toHaveProperty(m);
  });
});

describe('jwksUri fetch limits', () => {
  it('does not refetch the JWKS for unknown kids within the cooldown', async () => {
    const jwksUri = `${jwksServer.baseUrl}/jwks.json`;
    const partners = directory([{ id: 'hie-test', type: 'HIE', clients: [{ clientId: remote.clientId, jwksUri, scopes: ['system/*.rs'] }] }]);
    const cooled = await listen((baseUrl) =>
      express().use(createAuthRouter({ partners, keys, redis, logger, keyPrefix: prefix, config: { baseUrl }, jwks: { refetchCooldownMs: 60_000 } })),
    );
    try {
      const url = `${cooled.baseUrl}/auth/token`;
      expect((await postForm(url, tokenRequest(await signAssertion(remote, url), scope))).status).toBe(200);
      const before = jwksFetches;
      for (let i = 0; i < 3; i++) {
        const res = await postForm(url, tokenRequest(await signAssertion(remote, url, { header: { kid: `junk-${i}` } }), scope));
        expect(res.status).toBe(401);
      }
      expect(jwksFetches).toBe(before);
    } finally {
      await cooled.close();
    }
  });
});

describe('jwksUri outages', () => {
  it('keeps using a fresh cached JWKS when a refetch for an unknown kid fails', async () => {
    const jwksUri = `${jwksServer.baseUrl}/flaky.json`;
    const partners = directory([{ id: 'hie-flaky', type: 'HIE', clients: [{ clientId: remote.clientId, jwksUri, scopes: ['system/*.rs'] }] }]);
    const flaky = await listen((baseUrl) =>
      express().use(createAuthRouter({ partners, keys, redis, logger, keyPrefix: prefix, config: { baseUrl }, jwks: { refetchCooldownMs: 0 } })),
    );
    try {
      const url = `${flaky.baseUrl}/auth/token`;
      expect((await postForm(url, tokenRequest(await signAssertion(remote, url), scope))).status).toBe(200);
      expect((await postForm(url, tokenRequest(await signAssertion(remote, url, { header: { kid: 'rotated?' } }), scope))).status).toBe(401);
      expect(flakyFetches).toBe(2);
      expect((await postForm(url, tokenRequest(await signAssertion(remote, url), scope))).status).toBe(200);
      expect(flakyFetches).toBe(2);
    } finally {
      await flaky.close();
    }
  });
});

describe('token endpoint rate limit per client address', () => {
  it('answers 429 temporarily_unavailable with Retry-After once the address is over its limit', async () => {
    const limitedPrefix = uniquePrefix('token-limit');
    const limited = await listen((baseUrl) =>
      express().use(
        createAuthRouter({
          partners: directory([{ id: 'aco-x', type: 'ACO', clients: [{ clientId: es.clientId, jwks: publicJwks(es), scopes: ['system/*.rs'] }] }]),
          keys,
          redis,
          logger,
          keyPrefix: limitedPrefix,
          config: { baseUrl },
          tokenRateLimit: { requests: 2, windowSeconds: 3600 },
        }),
      ),
    );
    try {
      const url = `${limited.baseUrl}/auth/token`;
      expect((await postForm(url, tokenRequest(await signAssertion(es, url), scope))).status).toBe(200);
      expect((await postForm(url, { grant_type: 'nonsense' })).status).toBe(400); // refused requests count too
      const res = await postForm(url, tokenRequest(await signAssertion(es, url), scope));
      expect({ status: res.status, error: res.body.error }).toEqual({ status: 429, error: 'temporarily_unavailable' });
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(res.headers.get('cache-control')).toBe('no-store');
    } finally {
      await limited.close();
      await cleanupPrefix(redis, limitedPrefix);
    }
  });
});
