// The gateway's own signing keys: one ES384 and one RS384 key, as a private JWKS.
// They sign access tokens and the client assertions the gateway sends to partners; the public
// halves are served at /.well-known/jwks.json so partners can register that URL.
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  type CryptoKey,
  type JWK,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';
import type { Logger } from '../logger.js';

export type SigningAlg = 'ES384' | 'RS384';
export const SIGNING_ALGS: readonly SigningAlg[] = ['ES384', 'RS384'];

export interface SigningKey {
  alg: SigningAlg;
  kid: string;
  privateKey: CryptoKey;
}

export interface GatewayKeys {
  signing: Record<SigningAlg, SigningKey>;
  /** Public JWKS, safe to publish. */
  publicJwks: JSONWebKeySet;
  /** Key resolver over the public keys, for verifying what the gateway signed. */
  verifyKeys: JWTVerifyGetKey;
}

const PUBLIC_MEMBERS = ['kty', 'kid', 'alg', 'use', 'crv', 'x', 'y', 'n', 'e'] as const;

function publicPart(jwk: JWK): JWK {
  const out: JWK = {};
  for (const m of PUBLIC_MEMBERS) if (jwk[m] !== undefined) (out as Record<string, unknown>)[m] = jwk[m];
  return out;
}

/** Generates a private JWK for `alg` with kid = its RFC 7638 thumbprint. */
export async function generatePrivateJwk(alg: SigningAlg): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg, use: 'sig' };
}

/** The public half of a private JWKS, e.g. to paste into a partner registration. */
export function publicJwksOf(jwks: JSONWebKeySet): JSONWebKeySet {
  return { keys: jwks.keys.map(publicPart) };
}

/** Builds GatewayKeys from a private JWKS holding one ES384 and one RS384 key. */
export async function gatewayKeysFromJwks(jwks: JSONWebKeySet, source: string): Promise<GatewayKeys> {
  const signing = {} as Record<SigningAlg, SigningKey>;
  for (const alg of SIGNING_ALGS) {
    const jwk = jwks.keys.find((k) => k.alg === alg && k.d !== undefined);
    if (!jwk?.kid) throw new Error(`Gateway keys ${source}: no private ${alg} key with a kid`);
    signing[alg] = { alg, kid: jwk.kid, privateKey: (await importJWK(jwk, alg)) as CryptoKey };
  }
  const publicJwks = publicJwksOf({ keys: Object.values(signing).map((s) => jwks.keys.find((k) => k.kid === s.kid)!) });
  return { signing, publicJwks, verifyKeys: createLocalJWKSet(publicJwks) };
}

function readJwks(path: string): JSONWebKeySet {
  return JSON.parse(readFileSync(path, 'utf8')) as JSONWebKeySet;
}

/**
 * Loads GATEWAY_KEYS_FILE, or when it is not configured, DATA_DIR/gateway-keys.json — generating
 * that file (mode 0600) on first start. Several processes starting together agree on one file:
 * each writes a temporary file and hard-links it into place; link() is atomic and fails when the
 * file exists, so the first wins and the others read a complete file.
 */
export async function loadGatewayKeys(opts: { file?: string; dataDir: string; logger: Logger }): Promise<GatewayKeys> {
  if (opts.file) return gatewayKeysFromJwks(readJwks(opts.file), opts.file);
  const path = join(opts.dataDir, 'gateway-keys.json');
  try {
    return await gatewayKeysFromJwks(readJwks(path), path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const jwks: JSONWebKeySet = { keys: [await generatePrivateJwk('ES384'), await generatePrivateJwk('RS384')] };
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${randomUUID()}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(jwks, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  try {
    linkSync(tmp, path);
    opts.logger.warn({ path }, 'GATEWAY_KEYS_FILE not set: generated new gateway signing keys (ES384, RS384)');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return gatewayKeysFromJwks(readJwks(path), path);
  } finally {
    unlinkSync(tmp);
  }
  return gatewayKeysFromJwks(jwks, path);
}
