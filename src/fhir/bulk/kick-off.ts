// $export kick-off (export.md "Bulk Data Kick-off Request"): check headers and parameters,
// decide the types and the people, record the job and its patients in one transaction, queue it,
// answer 202 with the absolute status URL.
import { randomUUID } from 'node:crypto';
import { activeMember, relatedPatientIdsSql } from '../../consent/relationship.js';
import type { AccessCheck } from '../access.js';
import { allOk } from '../outcomes.js';
import type { FhirResponse } from '../router.js';
import type { Sql } from '../store/database.js';
import { inPatientCompartment, parseExportParams, parametersToPairs, type ExportLevel, type ExportParams } from './export-params.js';
import { exportJobs, type ExportRecipient, type ExportSpec } from './export-job.js';
import { bulkOutcomes } from './outcomes.js';
import { patientCompartmentTypes } from './patient-compartment.js';
import type { BulkContext } from './bulk-context.js';

export interface BulkRequest {
  method: string;
  /** The absolute request URL, query included. */
  url: string;
  query: [string, string][];
  /** Lower-case header names. */
  headers: Record<string, string | undefined>;
  body?: unknown;
  access: AccessCheck;
  requester: ExportRecipient;
  requestId?: string;
}

/** The Prefer header as a list (`respond-async, handling=lenient`). */
export function preferTokens(req: BulkRequest): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.prefer ?? '').split(/[,;]/)) {
    const [k, v] = part.trim().split('=');
    if (k) out.set(k.toLowerCase(), (v ?? '').replace(/"/g, '').toLowerCase());
  }
  return out;
}

export async function kickOff(ctx: BulkContext, req: BulkRequest, level: ExportLevel): Promise<FhirResponse> {
  const prefer = preferTokens(req);
  if (!prefer.has('respond-async')) throw bulkOutcomes.requirePreferAsync();
  const strict = prefer.get('handling') === 'strict';
  const pairs = req.method === 'POST' && req.body !== undefined ? [...req.query, ...parametersToPairs(req.body)] : req.query;
  const params = parseExportParams(pairs, level, strict);
  const exportTypes = resolveTypes(params, req.access, strict);

  const id = randomUUID();
  const transactionTime = ctx.now().toISOString();
  // For POST, `request` is the URL without the parameters (export.md "Response - Complete Status").
  const requestUrl = req.method === 'POST' ? req.url.split('?')[0] : req.url;
  await ctx.db.transaction(async (tx) => {
    // One lock per client: two kick-offs at once cannot both take the last slot.
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`bulk:${req.requester.clientId}`]);
    if ((await exportJobs.countActive(tx, req.requester.clientId)) >= ctx.config.maxConcurrentPerClient) {
      throw bulkOutcomes.tooManyExports(ctx.config.retryAfterSeconds * 10, ctx.config.maxConcurrentPerClient);
    }
    const spec: ExportSpec = { ...params, level, exportTypes, recipient: req.requester, requestId: req.requestId };
    if (level.kind === 'group') await assertGroup(tx, level.groupId);
    await exportJobs.insert(tx, { id, requestUrl, spec, transactionTime });
    const matched = await insertPatients(tx, id, req.requester, level, params.patients);
    if (params.patients && matched < new Set(params.patients).size) {
      spec.unmatchedPatients = new Set(params.patients).size - matched;
      await tx.query('UPDATE bulk_export_job SET params = $2::jsonb WHERE id = $1', [id, JSON.stringify(spec)]);
    }
  });
  try {
    await ctx.queue.add({ exportId: id, requestId: req.requestId });
  } catch {
    await exportJobs.cancel(ctx.db, id, ctx.now());
    throw bulkOutcomes.queueUnavailable();
  }
  return { status: 202, headers: { 'Content-Location': ctx.statusUrl(id) }, body: allOk('Export accepted; poll Content-Location') };
}

/**
 * `_type` narrowed to what an export can hold (the patient compartment) and what the scopes
 * allow for 'export'. A type asked for but outside the scopes is refused (403), never dropped
 * silently; one outside the compartment is a 400 when strict, else ignored and reported.
 */
function resolveTypes(params: ExportParams, access: AccessCheck, strict: boolean): string[] {
  if (!params.types) {
    const types = patientCompartmentTypes().filter((t) => access.allows(t, 'export'));
    if (!types.length) throw bulkOutcomes.typeNotPermitted('any resource type');
    return types;
  }
  const out: string[] = [];
  for (const t of params.types) {
    if (!inPatientCompartment(t)) {
      const reason = `${t} is not in the patient compartment, which is what this server exports`;
      if (strict) throw bulkOutcomes.unsupportedParameter('_type', reason);
      params.ignored.push({ name: '_type', reason });
      continue;
    }
    if (!access.allows(t, 'export')) throw bulkOutcomes.typeNotPermitted(t);
    out.push(t);
  }
  return out;
}

async function assertGroup(tx: Sql, groupId: string): Promise<void> {
  const r = await tx.query("SELECT 1 FROM resource WHERE resource_type = 'Group' AND id = $1 AND NOT deleted", [groupId]);
  if (!r.rows.length) throw bulkOutcomes.groupNotFound();
}

/**
 * The export's people, fixed now: the requester's related patients (src/consent/relationship),
 * narrowed to the Group's current members and to `patient`. Returns how many of `patients` matched.
 */
async function insertPatients(tx: Sql, jobId: string, who: ExportRecipient, level: ExportLevel, patients?: string[]): Promise<number> {
  const values: unknown[] = [jobId];
  const bind = (v: unknown): string => {
    values.push(v);
    return `$${values.length}`;
  };
  const conds: string[] = [];
  const related = relatedPatientIdsSql(who, bind);
  if (level.kind === 'group') {
    conds.push(`rp.patient_id IN (SELECT m.target_id FROM idx_reference m WHERE m.resource_type = 'Group' AND m.id = ${bind(level.groupId)}
      AND m.param = 'member' AND m.target_type = 'Patient' AND ${activeMember('m')})`);
  }
  if (patients) conds.push(`rp.patient_id = ANY(${bind(patients)}::text[])`);
  const r = await tx.query<{ n: number }>(
    `WITH ins AS (INSERT INTO bulk_export_patient (job_id, patient_id)
       SELECT $1, rp.patient_id FROM (${related}) rp WHERE rp.patient_id IS NOT NULL${conds.map((c) => ` AND ${c}`).join('')}
       ON CONFLICT DO NOTHING RETURNING 1)
     SELECT count(*)::int AS n FROM ins`,
    values,
  );
  return r.rows[0].n;
}
