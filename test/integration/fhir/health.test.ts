// Liveness and readiness as an orchestrator sees them.
import { createServer } from 'node:net';
import { http, startGateway, type RunningGateway } from '../../helpers/gateway.js';

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

describe('health endpoints', () => {
  let up: RunningGateway;
  let noRedis: RunningGateway;
  beforeAll(async () => {
    up = await startGateway('pglite');
    noRedis = await startGateway('pglite', { env: { REDIS_URL: `redis://127.0.0.1:${await closedPort()}` } });
  });
  afterAll(async () => {
    await up?.close();
    await noRedis?.close();
  });

  it('is alive and ready when the database and Redis answer', async () => {
    expect((await http('GET', `${up.url}/healthz`)).status).toBe(200);
    const r = await http('GET', `${up.url}/readyz`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ ok: true, database: 'ok', redis: 'ok' });
  });

  it('is alive but not ready (503) when Redis is unreachable', async () => {
    expect((await http('GET', `${noRedis.url}/healthz`)).status).toBe(200);
    const r = await http('GET', `${noRedis.url}/readyz`);
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ ok: false, database: 'ok', redis: 'unreachable' });
  });

  it('answers unknown paths with a 404 OperationOutcome', async () => {
    const r = await http('GET', `${up.url}/nowhere`);
    expect(r.status).toBe(404);
    expect(r.body.resourceType).toBe('OperationOutcome');
  });
});
