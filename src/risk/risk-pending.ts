// Who needs recomputing (table risk_pending, migration 7). The write hook only records the
// person, inside the input's own transaction, so the mark commits with the data or not at all;
// the drain (risk-drain.ts) claims people with a lease (FOR UPDATE SKIP LOCKED: several worker
// processes never take the same person), recomputes, and removes the mark only if no newer input
// arrived meanwhile (seq). A worker that dies leaves its lease to expire: nothing is lost.
import type { Resource } from '@medplum/fhirtypes';
import type { WriteHook } from '../care/write-hooks.js';
import type { Sql } from '../fhir/store/database.js';
import { isRiskInput, isSharedRiskAssessment, patientOfInput } from './risk-inputs.js';

export interface Claim {
  patientId: string;
  seq: string;
}

/** Types that can be inputs; a delete of one of these is looked up in its history. */
const INPUT_TYPES = new Set(['Observation', 'Condition', 'RiskAssessment']);

export async function markPending(tx: Sql, patientIds: string[]): Promise<void> {
  if (!patientIds.length) return;
  // A person already marked gets a new seq (a drain working on them will not drop the mark) but
  // keeps their lease and queue position.
  await tx.query(
    `INSERT INTO risk_pending (patient_id, seq)
     SELECT p, nextval('risk_pending_seq') FROM (SELECT DISTINCT unnest($1::text[]) AS p) d
     ON CONFLICT (patient_id) DO UPDATE SET seq = EXCLUDED.seq`,
    [patientIds],
  );
}

/**
 * The write hook: marks the subject of every risk input written (created, updated, deleted).
 * No reads except for a delete, whose previous version names the person.
 */
export const riskInputWriteHook: WriteHook = async (tx, event) => {
  if (!INPUT_TYPES.has(event.resourceType)) return;
  let resource: Resource | undefined = event.resource;
  if (event.kind === 'delete') {
    const r = await tx.query<{ content: string }>(
      `SELECT content::text AS content FROM resource_history
       WHERE resource_type = $1 AND id = $2 AND content IS NOT NULL ORDER BY version_id DESC LIMIT 1`,
      [event.resourceType, event.id],
    );
    resource = r.rows[0] ? (JSON.parse(r.rows[0].content) as Resource) : undefined;
  }
  if (!resource || isSharedRiskAssessment(resource) || !isRiskInput(resource)) return;
  const patientId = patientOfInput(resource);
  if (!patientId) return;
  // Once per ingest unit (a record writes ~20 Observations about one person): a second mark in
  // the same uncommitted unit would only draw another seq, which no drain has seen either.
  if (tx.unit !== undefined) {
    const marked = unitMarks.get(tx) ?? new Set<string>();
    unitMarks.set(tx, marked);
    if (marked.has(patientId)) return;
    marked.add(patientId);
  }
  await markPending(tx, [patientId]);
};

const unitMarks = new WeakMap<Sql, Set<string>>();

/** Up to `limit` people not leased (or whose lease ran out), oldest mark first, leased for `leaseMs`. */
export async function claimPending(sql: Sql, limit: number, leaseMs: number): Promise<Claim[]> {
  const r = await sql.query<{ patient_id: string; seq: string }>(
    `UPDATE risk_pending p SET lease_until = now() + $2::int * interval '1 millisecond'
     FROM (SELECT patient_id FROM risk_pending
           WHERE lease_until IS NULL OR lease_until < now()
           ORDER BY enqueued_at, patient_id LIMIT $1 FOR UPDATE SKIP LOCKED) c
     WHERE p.patient_id = c.patient_id
     RETURNING p.patient_id, p.seq::text AS seq`,
    [limit, leaseMs],
  );
  return r.rows.map((x) => ({ patientId: x.patient_id, seq: x.seq }));
}

/** Done: drop the mark unless a newer input marked the person again, then free it for the next claim. */
export async function completeClaim(sql: Sql, claim: Claim): Promise<void> {
  const r = await sql.query(`DELETE FROM risk_pending WHERE patient_id = $1 AND seq = $2::bigint RETURNING 1`, [claim.patientId, claim.seq]);
  if (!r.rows.length) await sql.query(`UPDATE risk_pending SET lease_until = NULL, attempts = 0 WHERE patient_id = $1`, [claim.patientId]);
}

/** Failed: keep the mark, retry after a backoff (2^attempts s, at most an hour). `reason` must hold no PHI. */
export async function failClaim(sql: Sql, claim: Claim, reason: string): Promise<void> {
  await sql.query(
    `UPDATE risk_pending SET attempts = attempts + 1, last_error = $2,
       lease_until = now() + least(power(2, attempts + 1), 3600) * interval '1 second'
     WHERE patient_id = $1`,
    [claim.patientId, reason.slice(0, 500)],
  );
}

export async function pendingCount(sql: Sql): Promise<number> {
  const r = await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM risk_pending');
  return r.rows[0].n;
}

/** Marks every current Patient (`lead-gateway risk recompute --all`, or after a protocol change). */
export async function markAllPending(sql: Sql): Promise<number> {
  const r = await sql.query<{ n: number }>(
    `WITH m AS (
       INSERT INTO risk_pending (patient_id, seq)
       SELECT id, nextval('risk_pending_seq') FROM resource WHERE resource_type = 'Patient' AND NOT deleted
       ON CONFLICT (patient_id) DO UPDATE SET seq = EXCLUDED.seq
       RETURNING 1)
     SELECT count(*)::int AS n FROM m`,
  );
  return r.rows[0].n;
}
