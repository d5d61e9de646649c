// Operator routes: Prometheus /metrics and the bull-board queue dashboard at /admin/queues.
//
// /metrics is open like any scrape target: its labels are organization ids and states, never a
// patient or a resource. /admin/queues needs `Authorization: Bearer <ADMIN_TOKEN>` (the token
// is configured, ≥ 32 characters, compared in constant time); without ADMIN_TOKEN the dashboard
// is off (404). The board is read-only: replaying a dead letter goes through
// `lead-gateway deliveries replay`, which keeps the delivery log and the queue in step.
import { timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import type { ExchangeMetrics } from './exchange-metrics.js';

export const ADMIN_QUEUES_PATH = '/admin/queues';

function outcome(res: Response, status: number, code: string, diagnostics: string): void {
  res.status(status).type('application/fhir+json').json({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics }] });
}

export function requireAdminToken(adminToken: string | undefined) {
  const expected = adminToken ? Buffer.from(adminToken) : undefined;
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!expected) return outcome(res, 404, 'not-found', 'The admin dashboard is off (no ADMIN_TOKEN configured)');
    const m = /^Bearer ([^\s]+)$/i.exec(req.headers.authorization ?? '');
    const given = m ? Buffer.from(m[1]) : undefined;
    if (!given || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="lead-gateway-admin"');
      return outcome(res, 401, 'login', 'Admin bearer token required');
    }
    next();
  };
}

export function adminRoutes(opts: { metrics: ExchangeMetrics; adminToken?: string; queues: () => Queue[] }): Router {
  const router = express.Router();
  router.get('/metrics', async (_req, res) => {
    res.type(opts.metrics.registry.contentType).send(await opts.metrics.registry.metrics());
  });
  // Built on first use, so an API process nobody opens the dashboard on never touches Redis.
  let board: Router | undefined;
  const boardRouter = (): Router => {
    if (!board) {
      const serverAdapter = new ExpressAdapter();
      serverAdapter.setBasePath(ADMIN_QUEUES_PATH);
      createBullBoard({ queues: opts.queues().map((q) => new BullMQAdapter(q, { readOnlyMode: true })), serverAdapter });
      board = serverAdapter.getRouter() as Router;
    }
    return board;
  };
  // One route for the whole dashboard (its pages, assets and JSON API): bull-board's own
  // router answers below it, with the mount path stripped as express would.
  router.all(`${ADMIN_QUEUES_PATH}{/*rest}`, requireAdminToken(opts.adminToken), (req, res, next) => {
    const rest = req.originalUrl.slice(ADMIN_QUEUES_PATH.length) || '/';
    req.url = rest.startsWith('/') ? rest : `/${rest}`;
    req.baseUrl = ADMIN_QUEUES_PATH;
    boardRouter()(req, res, next);
  });
  return router;
}
