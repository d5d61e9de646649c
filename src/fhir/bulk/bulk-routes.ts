// The HTTP adapter for Bulk Data export, mounted at /fhir before the FHIR routes (behind the
// same bearer middleware). Separate from routes.ts because its answers are not FHIR JSON: a
// manifest is application/json and files are streamed NDJSON, gzip when asked.
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { AccessCheck } from '../access.js';
import { outcomes } from '../outcomes.js';
import type { FhirResponse } from '../router.js';
import { send } from '../routes.js';
import type { BulkContext } from './bulk-context.js';
import type { ExportRecipient } from './export-job.js';
import type { ExportLevel } from './export-params.js';
import { cancelExport, exportStatus, openExportFile } from './export-status.js';
import { kickOff, type BulkRequest } from './kick-off.js';

export interface BulkRoutesOptions {
  ctx: BulkContext;
  maxBodyBytes: number;
  accessFor: (res: Response) => AccessCheck;
  requesterFor: (res: Response) => ExportRecipient;
}

const JSON_TYPES = ['application/fhir+json', 'application/json'];

type Handler = (req: Request, res: Response) => Promise<void>;
const wrap = (h: Handler) => (req: Request, res: Response, next: NextFunction) => void h(req, res).catch(next);

export function bulkRoutes(opts: BulkRoutesOptions): Router {
  const { ctx } = opts;
  const r = express.Router();
  const body = express.raw({ type: () => true, limit: opts.maxBodyBytes });

  const start = (level: (req: Request) => ExportLevel): Handler => async (req, res) => {
    send(res, await kickOff(ctx, toBulkRequest(opts, req, res), level(req)));
  };
  for (const [path, level] of [
    ['/$export', () => ({ kind: 'system' })],
    ['/Patient/$export', () => ({ kind: 'patient' })],
    ['/Group/:id/$export', (req: Request) => ({ kind: 'group', groupId: String(req.params.id) })],
  ] as [string, (req: Request) => ExportLevel][]) {
    r.get(path, wrap(start(level)));
    r.post(path, body, wrap(start(level)));
  }

  r.get(
    '/bulk-status/:id',
    wrap(async (req, res) => {
      const out = await exportStatus(ctx, opts.requesterFor(res), String(req.params.id));
      if (!out.manifest) return send(res, out);
      for (const [k, v] of Object.entries(out.headers ?? {})) res.setHeader(k, v);
      res.status(200).type('application/json').send(JSON.stringify(out.manifest));
    }),
  );
  r.delete(
    '/bulk-status/:id',
    wrap(async (req, res) => send(res, await cancelExport(ctx, opts.requesterFor(res), String(req.params.id)))),
  );
  r.get(
    '/bulk-files/:id/:file',
    wrap(async (req, res) => {
      const { stream, size } = await openExportFile(ctx, opts.requesterFor(res), String(req.params.id), String(req.params.file));
      res.status(200).type('application/fhir+ndjson');
      res.setHeader('Cache-Control', 'no-store');
      if (/\bgzip\b/i.test(req.headers['accept-encoding'] ?? '')) {
        res.setHeader('Content-Encoding', 'gzip');
        res.setHeader('Vary', 'Accept-Encoding');
        await pipeline(stream, createGzip({ level: 1 }), res);
      } else {
        res.setHeader('Content-Length', String(size));
        await pipeline(stream, res);
      }
    }),
  );
  return r;
}

function toBulkRequest(opts: BulkRoutesOptions, req: Request, res: Response): BulkRequest {
  const accept = req.headers.accept;
  if (accept && !/(\*\/\*|application\/\*|json)/i.test(accept)) {
    throw outcomes.notAcceptable(`Accept "${accept}" cannot be served: use application/fhir+json`);
  }
  const url = new URL(req.originalUrl, 'http://x');
  return {
    method: req.method,
    url: `${opts.ctx.fhirBase}${req.originalUrl.slice(req.baseUrl.length)}`,
    query: [...url.searchParams],
    headers: req.headers as Record<string, string | undefined>,
    body: parseBody(req),
    access: opts.accessFor(res),
    requester: opts.requesterFor(res),
    requestId: res.locals.requestId as string | undefined,
  };
}

function parseBody(req: Request): unknown {
  const raw = req.body as Buffer | undefined;
  if (!Buffer.isBuffer(raw) || raw.length === 0) return undefined;
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (!JSON_TYPES.includes(type)) throw outcomes.unsupportedMediaType(req.headers['content-type']);
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw outcomes.invalidJson((err as Error).message);
  }
}

export type { FhirResponse };
