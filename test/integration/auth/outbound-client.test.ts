// The gateway as a SMART client of a partner. The partner is a real loopback server: our own
// token server (with the gateway registered as client "lead-gateway") and a FHIR stub behind
// requireBearer, each counting its calls.
import express from 'express';
import { AccessTokenVerifier } from '../../../src/auth/access-token.js';
import { authUrls } from '../../../src/auth/auth-urls.js';
import { requireBearer } from '../../../src/auth/bearer.js';
import { gatewayKeysFromJwks, generatePrivateJwk } from '../../../src/auth/gateway-keys.js';
import { OutboundClient, PartnerTokenError } from '../../../src/auth/outbound-client.js';
import { createAuthRouter } from '../../../src/auth/token-server.js';
import type { PartnerEndpoint } from '../../../src/config/partners.js';
import { silentLogger } from '../../../src/logger.js';
import { cleanupPrefix, directory, listen, newRedis, uniquePrefix, type GatewayKeys, type Listening } from './helpers.js';

const redis = newRedis();
const prefix = uniquePrefix('outbound');
let gatewayKeys: GatewayKeys;
let partner: Listening;
let shortLived: Listening;
const calls = { token: 0, fhir: 0 };
/** Tokens the partner's FHIR stub answers 401 to (as if revoked). */
const revoked = new Set<string>();
let rejectAll = false;

async function startPartner(accessTokenLifetimeSeconds: number): Promise<Listening> {
  const partnerKeys = await gatewayKeysFromJwks({ keys: [await generatePrivateJwk('ES384'), await generatePrivateJwk('RS384')] }, 'partner');
  const partners = directory([
    { id: 'lead', type: 'HIE', clients: [{ clientId: 'lead-gateway', jwks: gatewayKeys.publicJwks, scopes: ['system/*.cruds'] }] },
  ]);
  return listen((baseUrl) => {
    const urls = authUrls(baseUrl);
    const verifier = new AccessTokenVerifier({ keys: partnerKeys, issuer: urls.issuer, audience: urls.fhirBaseUrl, directory: partners });
    const app = express();
    app.use('/auth/token', (_req, _res, next) => {
      calls.token += 1;
      next();
    });
    app.use(
      createAuthRouter({ config: { baseUrl }, partners, keys: partnerKeys, redis, logger: silentLogger, keyPrefix: prefix, accessTokenLifetimeSeconds }),
    );
    app.get('/fhir/Patient/:id', requireBearer({ verifier }), (req, res) => {
      calls.fhir += 1;
      const token = req.get('authorization')!.slice('Bearer '.length);
      if (rejectAll || revoked.has(token)) return void res.status(401).json({ resourceType: 'OperationOutcome', issue: [] });
      res.type('application/fhir+json').send(JSON.stringify({ resourceType: 'Patient', id: req.params.id }));
    });
    return app;
  });
}

function endpointOf(server: Listening): PartnerEndpoint {
  return { fhirBaseUrl: `${server.baseUrl}/fhir`, tokenUrl: `${server.baseUrl}/auth/token`, clientId: 'lead-gateway', scope: 'system/Patient.rs' };
}

beforeAll(async () => {
  gatewayKeys = await gatewayKeysFromJwks({ keys: [await generatePrivateJwk('ES384'), await generatePrivateJwk('RS384')] }, 'gateway');
  partner = await startPartner(300);
  shortLived = await startPartner(2);
});

beforeEach(() => {
  calls.token = 0;
  calls.fhir = 0;
  rejectAll = false;
});

afterAll(async () => {
  await Promise.all([partner?.close(), shortLived?.close()]);
  await cleanupPrefix(redis, prefix);
  await redis.quit();
});

describe('OutboundClient', () => {
  it('serves 100 concurrent requests with exactly one token request', async () => {
    const client = new OutboundClient({ endpoint: endpointOf(partner), keys: gatewayKeys });
    const fhir = client.fhirClient();
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => fhir.read({ resourceType: 'Patient', id: `p${i}` })));
    expect(results.map((r) => r.id)).toEqual(Array.from({ length: 100 }, (_, i) => `p${i}`));
    expect(calls).toEqual({ token: 1, fhir: 100 });
  });

  it('signs its assertion with either gateway key', async () => {
    for (const alg of ['ES384', 'RS384'] as const) {
      const client = new OutboundClient({ endpoint: endpointOf(partner), keys: gatewayKeys, alg });
      await expect(client.getAccessToken()).resolves.toEqual(expect.any(String));
    }
    expect(calls.token).toBe(2);
  });

  it('renews a token that is about to expire', async () => {
    const client = new OutboundClient({ endpoint: endpointOf(shortLived), keys: gatewayKeys });
    const first = await client.getAccessToken();
    expect(await client.getAccessToken()).toBe(first);
    await new Promise((r) => setTimeout(r, 1100)); // expires_in 2 s, renewed 1 s before
    const second = await client.getAccessToken();
    expect(second).not.toBe(first);
    expect(calls.token).toBe(2);
    expect((await client.fhirClient().read({ resourceType: 'Patient', id: 'x' })).id).toBe('x');
  });

  it('refreshes exactly once when the partner answers 401, then succeeds', async () => {
    const client = new OutboundClient({ endpoint: endpointOf(partner), keys: gatewayKeys });
    const fhir = client.fhirClient();
    await fhir.read({ resourceType: 'Patient', id: 'a' });
    revoked.add(await client.getAccessToken());
    // Fifty requests fail with the same revoked token: one refresh between them.
    const results = await Promise.all(Array.from({ length: 50 }, () => fhir.read({ resourceType: 'Patient', id: 'b' })));
    expect(results.every((r) => r.id === 'b')).toBe(true);
    expect(calls.token).toBe(2);
  });

  it('gives up after one refresh when the partner keeps answering 401', async () => {
    const client = new OutboundClient({ endpoint: endpointOf(partner), keys: gatewayKeys });
    rejectAll = true;
    await expect(client.withFhirClient((c) => c.read({ resourceType: 'Patient', id: 'c' }))).rejects.toMatchObject({
      response: { status: 401 },
    });
    expect(calls).toEqual({ token: 2, fhir: 2 });
  });

  it('reports the partner token error', async () => {
    const client = new OutboundClient({ endpoint: { ...endpointOf(partner), clientId: 'not-registered' }, keys: gatewayKeys });
    const err = await client.getAccessToken().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PartnerTokenError);
    expect(err).toMatchObject({ status: 401, oauthError: 'invalid_client' });
  });
});
