// `lead-gateway token` against a loopback token server loaded with the shipped demo directory:
// the demo private keys in config/demo/ work end to end.
import express from 'express';
import { gatewayKeysFromJwks, generatePrivateJwk } from '../../../src/auth/gateway-keys.js';
import { createAuthRouter } from '../../../src/auth/token-server.js';
import { token } from '../../../src/cli/token.js';
import { loadPartners } from '../../../src/config/partners.js';
import { silentLogger } from '../../../src/logger.js';
import { cleanupPrefix, listen, newRedis, uniquePrefix, type Listening } from './helpers.js';

const redis = newRedis();
const prefix = uniquePrefix('cli-token');
const demo = (path: string) => new URL(`../../../config/${path}`, import.meta.url).pathname;
let server: Listening;

beforeAll(async () => {
  const partners = loadPartners(demo('partners.json'));
  const keys = await gatewayKeysFromJwks({ keys: [await generatePrivateJwk('ES384'), await generatePrivateJwk('RS384')] }, 'test');
  server = await listen((baseUrl) =>
    express().use(createAuthRouter({ config: { baseUrl }, partners, keys, redis, logger: silentLogger, keyPrefix: prefix })),
  );
});

afterAll(async () => {
  await server?.close();
  await cleanupPrefix(redis, prefix);
  await redis.quit();
});

describe('lead-gateway token', () => {
  it.each([
    ['sma-admin', 'system/*.cruds', 'system/*.cruds'],
    ['sma-eligibility', 'system/*.rs', 'system/Patient.rs system/Coverage.rs system/Group.rs'],
    ['greenway-care-mgmt', 'system/Patient.read', 'system/Patient.read'],
  ])('gets a token for demo client %s', async (client, scope, granted) => {
    const printed: string[] = [];
    const body = await token({
      client,
      keyFile: demo(`demo/${client}.private.jwks.json`),
      tokenUrl: `${server.baseUrl}/auth/token`,
      scope,
      print: (l) => printed.push(l),
    });
    expect(body).toMatchObject({ token_type: 'bearer', expires_in: 300, scope: granted });
    expect(JSON.parse(printed.join('\n'))).toEqual(body);
  });

  it('fails with the OAuth error when the token URL is not the audience the server expects', async () => {
    await expect(
      token({
        client: 'sma-admin',
        keyFile: demo('demo/sma-admin.private.jwks.json'),
        tokenUrl: `${server.baseUrl}/auth/token?x=1`,
        scope: 'system/*.rs',
        print: () => {},
      }),
    ).rejects.toThrow('HTTP 401 invalid_client');
  });
});
