// One log line per request: request id, method, a path template, status, duration and the
// calling client. Never the query string or body (they carry names and identifiers) and never
// a resource id (the template keeps only the resource type).
import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from './logger.js';

const SAFE_ID = /^[A-Za-z0-9\-_.]{8,64}$/;

/** "/fhir/Patient/123/_history/2" → "/fhir/Patient/:id/_history/:vid". */
export function pathTemplate(path: string): string {
  const segs = path.split('/');
  const fhir = segs.indexOf('fhir');
  if (fhir < 0) return path.length > 64 ? path.slice(0, 64) : path;
  return segs
    .map((s, i) => {
      const rel = i - fhir;
      if (rel === 2 && !s.startsWith('$') && !s.startsWith('_')) return ':id';
      if (rel === 4 && segs[i - 1] === '_history') return ':vid';
      return s;
    })
    .join('/');
}

export function requestLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const incoming = req.get('x-request-id');
    const requestId = incoming && SAFE_ID.test(incoming) ? incoming : randomUUID();
    res.locals.requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    const start = process.hrtime.bigint();
    res.on('finish', () => {
      const requester = res.locals.requester as { clientId?: string } | undefined;
      logger.info(
        {
          requestId,
          method: req.method,
          path: pathTemplate(req.originalUrl.split('?')[0]),
          status: res.statusCode,
          ms: Number((process.hrtime.bigint() - start) / 1000n) / 1000,
          client: requester?.clientId,
        },
        'request',
      );
    });
    next();
  };
}
