// The FHIR side: a token obtained over HTTP, then used on a protected loopback route guarded by
// requireBearer + rateLimitPerClient + isAllowed (consent-security.md §4.2).
import express from 'express';
import { SignJWT } from 'jose';
import { AccessTokenIssuer, AccessTokenVerifier } from '../../../src/auth/access-token.js';
import { authUrls } from '../../../src/auth/auth-urls.js';
import { requireBearer } from '../../../src/auth/bearer.js';
import { gatewayKeysFromJwks, generatePrivateJwk } from '../../../src/auth/gateway-keys.js';
import { sendOutcome } from '../../../src/auth/outcomes.js';
import { rateLimitPerClient } from '../../../src/auth/rate-limit.js';
import { requesterOf } from '../../../src/auth/requester.js';
import { isAllowed, negotiateScopes } from '../../../src/auth/scopes.js';
import { createAuthRouter } from '../../../src/auth/token-server.js';
import type { PartnerDirectory } from '../../../src/config/partners.js';
import { silentLogger } from '../../../src/logger.js';
import {
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
const prefix = uniquePrefix('bearer');
const FIXED_NOW = Date.UTC(2030, 0, 1, 12, 0, 30); // rate-limit windows must not roll over mid-test
let keys: GatewayKeys;
let partners: PartnerDirectory;
let client: TestClient;
let limited: TestClient;
let server: Listening;
let otherProcess: Listening;

/** A stand-in FHIR read route: what the lead's router does with the requester. */
function fhirApp(baseUrl: string, verifier: AccessTokenVerifier) {
  const app = express();
  app.use(createAuthRouter({ config: { baseUrl }, partners, keys, redis, logger: silentLogger, keyPrefix: prefix, verifier }));
  app.use(
    '/fhir',
    requireBearer({ verifier, logger: silentLogger }),
    rateLimitPerClient({ redis, partners, logger: silentLogger, keyPrefix: prefix, now: () => FIXED_NOW }),
  );
  app.get('/fhir/:type/:id', (req, res) => {
    const requester = requesterOf(res);
    if (!isAllowed(requester.scopes, req.params.type, 'read')) {
      return sendOutcome(res, 403, 'forbidden', `Scope does not allow read on ${req.params.type}`);
    }
    res.json({ ...requester, scopes: requester.scopes.text });
  });
  return app;
}

function verifierFor(baseUrl: string): AccessTokenVerifier {
  const urls = authUrls(baseUrl);
  return new AccessTokenVerifier({ keys, issuer: urls.issuer, audience: urls.fhirBaseUrl, directory: partners });
}

async function getToken(c: TestClient, scope: string): Promise<string> {
  const tokenUrl = `${server.baseUrl}/auth/token`;
  const res = await postForm(tokenUrl, tokenRequest(await signAssertion(c, tokenUrl), scope));
  expect(res.status).toBe(200);
  return res.body.access_token as string;
}

function read(path: string, token?: string, base = server.baseUrl) {
  return fetch(`${base}/fhir/${path}`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
}

async function expect401(res: Response): Promise<void> {
  expect(res.status).toBe(401);
  expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="lead-gateway", error="invalid_token"/);
  expect(res.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
  expect(await res.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login' }] });
}

beforeAll(async () => {
  keys = await gatewayKeysFromJwks({ keys: [await generatePrivateJwk('ES384'), await generatePrivateJwk('RS384')] }, 'test');
  client = await newClient('mco-cm', 'ES384');
  limited = await newClient('limited', 'RS384');
  partners = directory([
    {
      id: 'mco-one',
      type: 'MCO',
      clients: [
        { clientId: client.clientId, jwks: publicJwks(client), scopes: ['system/Observation.rs', 'system/Patient.s'] },
        { clientId: limited.clientId, jwks: publicJwks(limited), scopes: ['system/*.rs'], rateLimit: { requests: 3, windowSeconds: 60 } },
      ],
    },
  ]);
  server = await listen((baseUrl) => fhirApp(baseUrl, verifierFor(baseUrl)));
  // Another gateway process: same keys and BASE_URL, its own verifier and cache.
  otherProcess = await listen(() => fhirApp(server.baseUrl, verifierFor(server.baseUrl)));
});

afterAll(async () => {
  await Promise.all([server?.close(), otherProcess?.close()]);
  await cleanupPrefix(redis, prefix);
  await redis.quit();
});

describe('bearer tokens at the FHIR API', () => {
  it('lets a token obtained over HTTP read within its scope, and names the requester', async () => {
    const res = await read('Observation/1', await getToken(client, 'system/Observation.rs'));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      clientId: 'mco-cm',
      organizationId: 'mco-one',
      organizationType: 'MCO',
      scopes: 'system/Observation.rs',
      purposeOfUse: 'HPAYMT',
    });
  });

  it('is accepted by another gateway process holding the same keys', async () => {
    const res = await read('Observation/1', await getToken(client, 'system/Observation.rs'), otherProcess.baseUrl);
    expect(res.status).toBe(200);
  });

  it('refuses a scope for Observation used on Patient (403)', async () => {
    const res = await read('Patient/1', await getToken(client, 'system/Observation.rs system/Patient.s'));
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'forbidden' }] });
  });

  it('answers 401 without a token', async () => {
    await expect401(await read('Observation/1'));
  });

  it('answers 401 for a garbage token and for a token in the query string', async () => {
    await expect401(await read('Observation/1', 'not-a-token'));
    const token = await getToken(client, 'system/Observation.rs');
    await expect401(await fetch(`${server.baseUrl}/fhir/Observation/1?access_token=${token}`));
  });

  it('answers 401 for a tampered access token (scope widened after signing)', async () => {
    const [h, p, s] = (await getToken(client, 'system/Observation.rs')).split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const widened = Buffer.from(JSON.stringify({ ...claims, scope: 'system/*.cruds' })).toString('base64url');
    await expect401(await read('Observation/1', `${h}.${widened}.${s}`));
  });

  it('answers 401 for an expired access token', async () => {
    const urls = authUrls(server.baseUrl);
    const old = new AccessTokenIssuer({ keys, issuer: urls.issuer, audience: urls.fhirBaseUrl, now: () => Date.now() - 301_000 });
    const registered = partners.findClient(client.clientId)!;
    const { accessToken } = await old.issue(registered, negotiateScopes('system/Observation.rs', registered.client.scopes), 'HPAYMT');
    const res = await read('Observation/1', accessToken);
    expect(res.headers.get('www-authenticate')).toContain('expired');
    await expect401(res);
  });

  it('answers 401 for a token from another issuer, or signed with another gateway key', async () => {
    const urls = authUrls(server.baseUrl);
    const registered = partners.findClient(client.clientId)!;
    const granted = negotiateScopes('system/Observation.rs', registered.client.scopes);
    const foreignIssuer = new AccessTokenIssuer({ keys, issuer: 'https://other-gateway.example.org', audience: urls.fhirBaseUrl });
    await expect401(await read('Observation/1', (await foreignIssuer.issue(registered, granted, 'HPAYMT')).accessToken));
    const otherKeys = await gatewayKeysFromJwks({ keys: [await generatePrivateJwk('ES384'), await generatePrivateJwk('RS384')] }, 'other');
    const foreignKey = new AccessTokenIssuer({ keys: otherKeys, issuer: urls.issuer, audience: urls.fhirBaseUrl });
    await expect401(await read('Observation/1', (await foreignKey.issue(registered, granted, 'HPAYMT')).accessToken));
  });

  it('answers 401 for an unsecured (alg none) access token and for a client assertion used as a bearer token', async () => {
    const now = Math.floor(Date.now() / 1000);
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const none = `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64({
      iss: server.baseUrl, aud: `${server.baseUrl}/fhir`, sub: 'mco-cm', client_id: 'mco-cm', scope: 'system/*.cruds',
      organization_id: 'mco-one', purpose_of_use: 'TREAT', iat: now, exp: now + 60, jti: 'x',
    })}.`;
    await expect401(await read('Observation/1', none));
    await expect401(await read('Observation/1', await signAssertion(client, `${server.baseUrl}/fhir`)));
  });

  it('answers 429 with Retry-After past the client rate limit', async () => {
    const token = await getToken(limited, 'system/*.rs');
    for (let i = 0; i < 3; i++) expect((await read('Observation/1', token)).status).toBe(200);
    const res = await read('Observation/1', token);
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBe(30);
    expect(await res.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'throttled' }] });
    // Another client is not affected.
    expect((await read('Observation/1', await getToken(client, 'system/Observation.rs'))).status).toBe(200);
  });
});

describe('token introspection', () => {
  const introspect = (token: string, caller?: string) =>
    postForm(`${server.baseUrl}/auth/introspect`, { token }, caller ? { authorization: `Bearer ${caller}` } : {});

  it('describes an active token to an authenticated caller', async () => {
    const token = await getToken(client, 'system/Observation.rs');
    const res = await introspect(token, token);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ active: true, client_id: 'mco-cm', scope: 'system/Observation.rs', organization_id: 'mco-one' });
  });

  it('answers active:false for a bad token and 401 without a caller token', async () => {
    const caller = await getToken(client, 'system/Observation.rs');
    expect((await introspect('garbage', caller)).body).toEqual({ active: false });
    expect((await introspect(caller)).status).toBe(401);
  });
});

describe('AccessTokenVerifier cache', () => {
  it('verifies a token once and serves it from the cache until it expires', async () => {
    let now = Date.now();
    const urls = authUrls('http://127.0.0.1:1');
    const issuer = new AccessTokenIssuer({ keys, issuer: urls.issuer, audience: urls.fhirBaseUrl, now: () => now });
    const verifier = new AccessTokenVerifier({ keys, issuer: urls.issuer, audience: urls.fhirBaseUrl, directory: partners, now: () => now });
    const registered = partners.findClient(client.clientId)!;
    const { accessToken } = await issuer.issue(registered, negotiateScopes('system/Observation.rs', registered.client.scopes), 'HPAYMT');
    const first = await verifier.verify(accessToken);
    expect(await verifier.verify(accessToken)).toBe(first);
    now += 301_000;
    await expect(verifier.verify(accessToken)).rejects.toThrow('expired');
  });

  it('refuses a signed token whose client is no longer in the directory', async () => {
    const urls = authUrls('http://127.0.0.1:1');
    const token = await new SignJWT({ client_id: 'gone', scope: 'system/*.rs', organization_id: 'mco-one', purpose_of_use: 'TREAT' })
      .setProtectedHeader({ alg: 'RS384', kid: keys.signing.RS384.kid, typ: 'at+jwt' })
      .setIssuer(urls.issuer)
      .setAudience(urls.fhirBaseUrl)
      .setIssuedAt()
      .setExpirationTime('2m')
      .setJti('j')
      .sign(keys.signing.RS384.privateKey);
    const verifier = new AccessTokenVerifier({ keys, issuer: urls.issuer, audience: urls.fhirBaseUrl, directory: partners });
    await expect(verifier.verify(token)).rejects.toThrow('not valid');
  });
});
