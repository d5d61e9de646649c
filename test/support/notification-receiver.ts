// A subscriber's rest-hook endpoint, run as its own process on loopback (tests, bench/):
//   node bin/run-ts.js test/support/notification-receiver.ts --jwks <hub public JWKS file> --out <file.jsonl>
// It is the ACO side of SMART Backend Services too: POST /auth/token verifies the gateway's
// client assertion (private_key_jwt, the hub's public keys) and issues an opaque token;
// POST /notify accepts notification Bundles only with a token it issued (else 401) and records
// each one (arrival time, whether authorized, body) as a JSON line; GET /received[?since=N] returns them.
// Prints {"port": N} on stdout once listening.
import { randomBytes } from 'node:crypto';
import { appendFileSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const jwks = createLocalJWKSet(JSON.parse(readFileSync(arg('jwks') as string, 'utf8')) as JSONWebKeySet);
const clientId = arg('client-id') ?? 'lead-gateway';
const out = arg('out');
const issued = new Set<string>();
const received: unknown[] = [];
let tokenUrl = '';

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const server = createServer((req, res) => {
  void (async () => {
    const send = (status: number, json: unknown, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type });
      res.end(JSON.stringify(json));
    };
    if (req.method === 'POST' && req.url === '/auth/token') {
      const form = new URLSearchParams(await body(req));
      try {
        if (form.get('grant_type') !== 'client_credentials') throw new Error('grant_type');
        await jwtVerify(form.get('client_assertion') ?? '', jwks, { issuer: clientId, subject: clientId, audience: tokenUrl });
      } catch {
        return send(401, { error: 'invalid_client' });
      }
      const token = randomBytes(24).toString('base64url');
      issued.add(token);
      return send(200, { access_token: token, token_type: 'bearer', expires_in: 300, scope: form.get('scope') ?? '' });
    }
    if (req.method === 'POST' && req.url === '/notify') {
      const text = await body(req);
      const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const authorized = !!auth && issued.has(auth);
      if (!authorized) return send(401, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login', diagnostics: 'token required' }] }, 'application/fhir+json');
      const record = { receivedAt: Date.now(), contentType: req.headers['content-type'], authorized, body: JSON.parse(text) as unknown };
      received.push(record);
      if (out) appendFileSync(out, `${JSON.stringify(record)}\n`);
      res.writeHead(200);
      return res.end();
    }
    if (req.method === 'GET' && req.url?.startsWith('/received')) {
      // ?since=N: only what arrived after the first N (the bench polls without re-reading all).
      const since = Number(new URL(req.url, 'http://x').searchParams.get('since') ?? 0);
      return send(200, received.slice(since));
    }
    send(404, { error: 'not found' });
  })().catch(() => {
    res.writeHead(500);
    res.end();
  });
});

server.listen(0, '127.0.0.1', () => {
  const port = (server.address() as AddressInfo).port;
  tokenUrl = `http://127.0.0.1:${port}/auth/token`;
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
