// GET /fhir/Patient/[id]/$alignment[?period=YYYY]: why a beneficiary is (not) aligned, from the
// latest alignment run. Mounted before the FHIR routes, behind the same bearer middleware.
// The person must be one the caller may see: the Patient goes through the consent filter
// (relationship, opt-out; the disclosure is audited), else 404 exactly as for a missing Patient.
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Patient, Resource } from '@medplum/fhirtypes';
import type { OrganizationType } from '../config/partners.js';
import { assertAllowed, type AccessCheck } from '../fhir/access.js';
import { FhirError, outcomes } from '../fhir/outcomes.js';
import { send } from '../fhir/routes.js';
import type { Database } from '../fhir/store/database.js';
import type { Repository } from '../fhir/store/repository.js';
import { explainAlignment } from './explain.js';
import { decidedPeriods, readDecision } from './run.js';

export interface AlignmentCaller {
  clientId: string;
  organizationId: string;
  organizationType: OrganizationType;
  purposeOfUse: string;
}

export interface AlignmentRoutesOptions {
  db: Database;
  repo: Repository;
  accessFor: (res: Response) => AccessCheck;
  callerFor: (res: Response) => AlignmentCaller;
  /** The consent filter (what of `resources` the caller may see); absent = trusted caller (tests of the core). */
  disclose?: (caller: AlignmentCaller, resources: Resource[]) => Promise<Resource[]>;
}

export function alignmentRoutes(opts: AlignmentRoutesOptions): Router {
  const r = express.Router();
  r.get('/Patient/:id/$alignment', (req: Request, res: Response, next: NextFunction) => {
    void (async () => {
      assertAllowed(opts.accessFor(res), 'Patient', 'read');
      const caller = opts.callerFor(res);
      const id = String(req.params.id);
      const periodParam = typeof req.query.period === 'string' ? req.query.period : undefined;
      if (periodParam !== undefined && !/^20\d{2}$/.test(periodParam)) throw outcomes.badRequest('period must be a year YYYY', ['period']);
      // A deleted Patient answers like a missing one: a 410 would tell an unrelated caller it existed.
      const patient = await opts.repo.read<Patient>('Patient', id).catch((err: unknown) => {
        throw err instanceof FhirError && err.status === 410 ? outcomes.notFound(`Patient/${id}`) : err;
      });
      if (opts.disclose && !(await opts.disclose(caller, [patient])).length) throw outcomes.notFound(`Patient/${id}`);
      const period = periodParam ?? (await decidedPeriods(opts.db, id))[0];
      const decision = period ? await readDecision(opts.db, period, id) : undefined;
      if (!decision) throw outcomes.notFoundMessage(`No alignment decision for Patient/${id}${period ? ` in ${period}` : ''}`);
      const fullView = caller.organizationType === 'SMA' || caller.organizationType === 'MCO';
      send(res, { status: 200, body: explainAlignment(decision, { organizationId: caller.organizationId, fullView }) });
    })().catch(next);
  });
  return r;
}
