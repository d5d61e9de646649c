// Which organization a write comes from, for routing. Set around a request by the /fhir
// middleware (the SMART requester's organization) and around an ingest run by its caller;
// resources ingest wrote also name their sender in their source-record identifier
// (data-classes.ts sourceRecordOf), which is used when no context is set.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { NextFunction, Request, Response } from 'express';

const storage = new AsyncLocalStorage<{ organizationId: string }>();

export function runAsSource<T>(organizationId: string, fn: () => T): T {
  return storage.run({ organizationId }, fn);
}

export function currentSource(): string | undefined {
  return storage.getStore()?.organizationId;
}

/** Express middleware: writes of this request come from the authenticated organization. */
export function sourceFromRequester(req: Request, res: Response, next: NextFunction): void {
  void req;
  const org = (res.locals.requester as { organizationId?: string } | undefined)?.organizationId;
  if (org) storage.run({ organizationId: org }, next);
  else next();
}
