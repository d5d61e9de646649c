// Gateway signing keys: loaded from GATEWAY_KEYS_FILE, or generated once into DATA_DIR.
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jwtVerify, SignJWT } from 'jose';
import { loadGatewayKeys } from '../../../src/auth/gateway-keys.js';
import { keysGenerate } from '../../../src/cli/keys.js';
import { capturingLogger } from '../../integration/auth/helpers.js';

const freshDir = () => mkdtempSync(join(tmpdir(), 'gateway-keys-'));

describe('loadGatewayKeys', () => {
  it('generates ES384 and RS384 keys once into DATA_DIR (mode 0600) and says so in the log', async () => {
    const dataDir = freshDir();
    const { logger, lines } = capturingLogger();
    const first = await loadGatewayKeys({ dataDir, logger });
    const path = join(dataDir, 'gateway-keys.json');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(lines.filter((l) => String(l.msg).includes('generated new gateway signing keys'))).toHaveLength(1);
    const again = await loadGatewayKeys({ dataDir, logger });
    expect(again.signing.ES384.kid).toBe(first.signing.ES384.kid);
    expect(again.signing.RS384.kid).toBe(first.signing.RS384.kid);
    expect(lines.filter((l) => String(l.msg).includes('generated'))).toHaveLength(1);
  });

  it('lets processes starting together agree on one key file', async () => {
    const dataDir = freshDir();
    const { logger } = capturingLogger();
    const all = await Promise.all(Array.from({ length: 4 }, () => loadGatewayKeys({ dataDir, logger })));
    expect(new Set(all.map((k) => k.signing.RS384.kid)).size).toBe(1);
  });

  it('reads GATEWAY_KEYS_FILE and publishes only public members', async () => {
    const dir = freshDir();
    const file = join(dir, 'keys.json');
    const [es, rs] = await Promise.all([keysGenerate({ alg: 'ES384', print: () => {} }), keysGenerate({ alg: 'RS384', print: () => {} })]);
    writeFileSync(file, JSON.stringify({ keys: [...es.privateJwks.keys, ...rs.privateJwks.keys] }));
    const keys = await loadGatewayKeys({ file, dataDir: dir, logger: capturingLogger().logger });
    expect(keys.publicJwks).toEqual({ keys: [es.publicJwks.keys[0], rs.publicJwks.keys[0]] });
    for (const k of keys.publicJwks.keys) expect(k).not.toHaveProperty('d');
    // What the gateway signs, its public JWKS verifies.
    const jwt = await new SignJWT({}).setProtectedHeader({ alg: 'ES384', kid: keys.signing.ES384.kid }).sign(keys.signing.ES384.privateKey);
    await expect(jwtVerify(jwt, keys.verifyKeys)).resolves.toBeDefined();
  });

  it('refuses a key file without both algorithms', async () => {
    const dir = freshDir();
    const file = join(dir, 'keys.json');
    const es = await keysGenerate({ alg: 'ES384', print: () => {} });
    writeFileSync(file, JSON.stringify(es.privateJwks));
    await expect(loadGatewayKeys({ file, dataDir: dir, logger: capturingLogger().logger })).rejects.toThrow('no private RS384 key');
  });
});

describe('keys generate', () => {
  it('prints a private JWKS and the public fragment for the partner entry', async () => {
    const out: string[] = [];
    const { privateJwks, publicJwks } = await keysGenerate({ alg: 'RS384', print: (l) => out.push(l) });
    expect(privateJwks.keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS384', use: 'sig', d: expect.any(String) });
    expect(publicJwks.keys[0]).not.toHaveProperty('d');
    expect(out.join('\n')).toContain(JSON.stringify(publicJwks, null, 2));
  });

  it('writes the private JWKS to a file with mode 0600', async () => {
    const file = join(freshDir(), 'client.jwks.json');
    await keysGenerate({ alg: 'ES384', out: file, print: () => {} });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8')).keys[0].crv).toBe('P-384');
  });
});
