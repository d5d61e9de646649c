// `lead-gateway keys generate`: a client key pair for SMART Backend Services. Prints the private
// JWKS (keep it with the client) and the public JWKS fragment to paste into the client's
// `jwks` in the partner directory (client-confidential-asymmetric.md "Registering a client").
import { writeFileSync } from 'node:fs';
import type { JSONWebKeySet } from 'jose';
import { generatePrivateJwk, publicJwksOf, type SigningAlg } from '../auth/gateway-keys.js';

export interface KeysGenerateOptions {
  alg?: SigningAlg;
  /** Write the private JWKS to this file (mode 0600) instead of printing it. */
  out?: string;
  print?: (line: string) => void;
}

export interface GeneratedClientKey {
  privateJwks: JSONWebKeySet;
  publicJwks: JSONWebKeySet;
}

export async function keysGenerate(opts: KeysGenerateOptions = {}): Promise<GeneratedClientKey> {
  const alg = opts.alg ?? 'ES384';
  if (alg !== 'ES384' && alg !== 'RS384') throw new Error(`--alg must be ES384 or RS384, got ${String(alg)}`);
  const print = opts.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const privateJwks = { keys: [await generatePrivateJwk(alg)] };
  const publicJwks = publicJwksOf(privateJwks);
  if (opts.out) {
    writeFileSync(opts.out, `${JSON.stringify(privateJwks, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    print(`# private JWKS written to ${opts.out} (keep it secret)`);
  } else {
    print('# private JWKS (keep it secret; pass it to `lead-gateway token --key-file`)');
    print(JSON.stringify(privateJwks, null, 2));
  }
  print('# public JWKS: paste as "jwks" in the client entry of the partner directory');
  print(JSON.stringify(publicJwks, null, 2));
  return { privateJwks, publicJwks };
}
