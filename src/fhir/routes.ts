// The one express adapter for the FHIR core: HTTP in, FhirRequest to the router, FhirResponse
// out. Body parsing, media types and size limits live here; nothing else in src/fhir knows HTTP.
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { AccessCheck } from './access.js';
import { FhirError, outcomes, toFhirError } from './outcomes.js';
import type { FhirRequest, FhirResponse, FhirRouter } from './router.js';
import type { Logger } from '../logger.js';
import type { Recipient } from '../consent/filter.js';

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

export interface FhirRoutesOptions {
  router: FhirRouter;
  maxBodyBytes: number;
  logger: Logger;
  /** Resolves the caller's permissions (set by the authentication middleware before us). */
  accessFor: (res: Response) => AccessCheck;
  /** The recipient of what the request discloses (from the authenticated requester). */
  recipientFor?: (res: Response) => Recipient | undefined;
}

const JSON_TYPES = ['application/fhir+json', 'application/json', 'application/json+fhir'];

export function fhirRoutes(opts: FhirRoutesOptions): Router {
  const r = express.Router();
  r.use(
    express.raw({ type: () => true, limit: opts.maxBodyBytes }),
    (req: Request, res: Response, next: NextFunction) => {
      handle(opts, req, res).catch(next);
    },
  );
  r.use(fhirErrorHandler(opts.logger, opts.maxBodyBytes));
  return r;
}

function parseBody(req: Request): unknown {
  const raw = req.body as Buffer | undefined;
  if (!Buffer.isBuffer(raw) || raw.length === 0) return undefined;
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') return raw.toString('utf8');
  if (!JSON_TYPES.includes(type)) throw outcomes.unsupportedMediaType(req.headers['content-type']);
  const text = raw.toString('utf8');
  // A NUL (\u0000) cannot be stored in PostgreSQL jsonb, and FHIR strings may not contain it.
  if (/\\u0000/.test(text)) throw outcomes.badRequest('Request body contains a NUL character (\\u0000)');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw outcomes.invalidJson((err as Error).message);
  }
}

function checkAccept(req: Request): void {
  const accept = req.headers.accept;
  const format = typeof req.query._format === 'string' ? req.query._format : undefined;
  if (format && !/json/.test(format)) throw outcomes.notAcceptable(`_format ${format} is not supported: use json`);
  if (!accept) return;
  if (!/(\*\/\*|application\/\*|json)/i.test(accept)) throw outcomes.notAcceptable(`Accept "${accept}" cannot be served: use application/fhir+json`);
}

async function handle(opts: FhirRoutesOptions, req: Request, res: Response): Promise<void> {
  checkAccept(req);
  const url = new URL(req.originalUrl, 'http://x');
  const fhirReq: FhirRequest = {
    method: req.method,
    path: req.path,
    query: [...url.searchParams],
    headers: req.headers as Record<string, string | undefined>,
    body: parseBody(req),
    access: opts.accessFor(res),
    recipient: opts.recipientFor?.(res),
  };
  if ((req.method === 'POST' || req.method === 'PUT') && fhirReq.body === undefined && !req.path.endsWith('/_search')) {
    throw outcomes.badRequest('Request body is required');
  }
  send(res, await opts.router.handle(fhirReq));
}

export function send(res: Response, out: FhirResponse): void {
  for (const [k, v] of Object.entries(out.headers ?? {})) res.setHeader(k, v);
  res.status(out.status);
  if (out.body === undefined) {
    res.end();
    return;
  }
  res.setHeader('Content-Type', FHIR_JSON);
  res.send(typeof out.body === 'string' ? out.body : JSON.stringify(out.body));
}

/** Every error leaves as an OperationOutcome; no stack trace ever reaches the caller. */
export function fhirErrorHandler(logger: Logger, maxBodyBytes: number) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    let fe: FhirError;
    const e = err as { type?: string; status?: number };
    if (err instanceof FhirError) fe = err;
    else if (e?.type === 'entity.too.large') fe = outcomes.tooLarge(maxBodyBytes);
    else if (e?.type === 'entity.parse.failed') fe = outcomes.invalidJson('malformed body');
    else if (e?.type === 'request.aborted') fe = outcomes.badRequest('Request aborted');
    else if (e?.status === 400) fe = outcomes.badRequest('Malformed request');
    else fe = toFhirError(err);
    if (fe.status >= 500) {
      // The error's name and message only: they never hold a resource body.
      logger.error({ err: { name: (err as Error)?.name, message: (err as Error)?.message }, method: req.method, path: req.baseUrl }, 'request failed');
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    send(res, { status: fe.status, body: fe.outcome, headers: fe.headers });
  };
}
