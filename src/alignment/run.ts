// An alignment run for one performance period: read the facts (enrollment.ts) and the supplied
// rosters, decide every beneficiary (rules.ts), write one roster Group per ACO through the
// gateway's write path (labelled, validated, routed, notified like any write) and keep each
// decision with its explanation (alignment_decision) for Patient/[id]/$alignment.
import { randomUUID } from 'node:crypto';
import type { Group } from '@medplum/fhirtypes';
import type { PartnerDirectory } from '../config/partners.js';
import type { Database } from '../fhir/store/database.js';
import type { Repository } from '../fhir/store/repository.js';
import { loadEnrollment, policyFrom } from './enrollment.js';
import { buildRoster, rosterGroupId, type ChangeType } from './roster.js';
import { decideAlignment, type AlignmentDecision, type AlignmentSegment, type SuppliedAlignment } from './rules.js';

export interface AlignmentRunOptions {
  db: Database;
  /** The gateway's write path (src/write-path.ts). */
  repo: Repository;
  directory: Pick<PartnerDirectory, 'organizations' | 'agreements'>;
  period: string;
  supplied?: SuppliedAlignment[];
  now?: () => Date;
}

export interface AlignmentRunResult {
  runId: string;
  period: string;
  beneficiaries: number;
  aligned: number;
  byPathway: Record<string, number>;
  rosters: { acoId: string; groupId: string; members: number; written: boolean; changes: Record<ChangeType, number> }[];
  /** Milliseconds per phase (bench/alignment.ts). */
  timings: { readFacts: number; decide: number; writeRosters: number; saveDecisions: number };
}

const PERIOD = /^(20\d{2})$/;

export async function runAlignment(opts: AlignmentRunOptions): Promise<AlignmentRunResult> {
  const { db, repo, directory, period } = opts;
  if (!PERIOD.test(period)) throw new Error(`Performance period must be a year YYYY, got "${period}"`);
  const now = (opts.now ?? (() => new Date()))();
  const runId = randomUUID();
  const policy = policyFrom(directory);
  let mark = performance.now();
  const lap = (): number => {
    const t = performance.now();
    const ms = Math.round(t - mark);
    mark = t;
    return ms;
  };
  const facts = await loadEnrollment(db, period);
  const supplied = opts.supplied ?? [];
  // People named only by a supplied roster are aligned too (CMS aligned them; no Medicaid facts needed).
  const known = new Set(facts.map((f) => f.patientId));
  for (const s of supplied) {
    if (!known.has(s.patientId)) {
      facts.push({ patientId: s.patientId, residence: {}, months: [] });
      known.add(s.patientId);
    }
  }
  const previous = await previousAcos(db, period);
  const readFacts = lap();
  const suppliedBy = groupBy(supplied, (s) => s.patientId);
  const decisions = facts.map((f) => decideAlignment(period, f, suppliedBy.get(f.patientId) ?? [], policy, previous.get(f.patientId)));

  const byAco = new Map<string, Map<string, AlignmentSegment[]>>();
  const byPathway: Record<string, number> = {};
  for (const d of decisions) {
    for (const s of d.segments) {
      const m = byAco.get(s.acoId) ?? new Map<string, AlignmentSegment[]>();
      byAco.set(s.acoId, m);
      m.set(d.patientId, [...(m.get(d.patientId) ?? []), s]);
    }
    for (const p of new Set(d.segments.map((s) => s.pathway))) byPathway[p] = (byPathway[p] ?? 0) + 1;
  }

  const decide = lap();
  const rosters: AlignmentRunResult['rosters'] = [];
  await repo.withTransaction(async (tx) => {
    for (const aco of directory.organizations.filter((o) => o.type === 'ACO')) {
      const groupId = rosterGroupId(aco.id, period);
      const prev = await tx.read<Group>('Group', groupId).catch(() => undefined);
      const segments = byAco.get(aco.id) ?? new Map();
      const built = buildRoster({ acoId: aco.id, acoName: aco.name, period, segments, previous: prev });
      if (built) await tx.update(built.group);
      rosters.push({
        acoId: aco.id,
        groupId,
        members: segments.size,
        written: !!built,
        changes: built?.counts ?? { new: 0, dropped: 0, changed: 0, nochange: segments.size },
      });
    }
  });
  const writeRosters = lap();
  await saveDecisions(db, runId, period, decisions, now);
  const timings = { readFacts, decide, writeRosters, saveDecisions: lap() };
  return { runId, period, beneficiaries: decisions.length, aligned: decisions.filter((d) => d.segments.length).length, byPathway, rosters, timings };
}

function groupBy<T>(xs: T[], key: (x: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const x of xs) out.set(key(x), [...(out.get(key(x)) ?? []), x]);
  return out;
}

async function previousAcos(db: Database, period: string): Promise<Map<string, string[]>> {
  const r = await db.query<{ patient_id: string; aco_ids: string[] }>('SELECT patient_id, aco_ids FROM alignment_decision WHERE period = $1', [period]);
  return new Map(r.rows.map((x) => [x.patient_id, x.aco_ids]));
}

/** Replaces the period's decisions with this run's, in one transaction, in batches. */
async function saveDecisions(db: Database, runId: string, period: string, decisions: AlignmentDecision[], now: Date): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query('DELETE FROM alignment_decision WHERE period = $1', [period]);
    for (let i = 0; i < decisions.length; i += 500) {
      const batch = decisions.slice(i, i + 500);
      await tx.query(
        `INSERT INTO alignment_decision (period, patient_id, run_id, aco_ids, decision, decided_at)
         SELECT $1, d->>'patientId', $2, ARRAY(SELECT DISTINCT s->>'acoId' FROM jsonb_array_elements(d->'segments') s), d, $3
         FROM jsonb_array_elements($4::jsonb) d`,
        [period, runId, now.toISOString(), JSON.stringify(batch)],
      );
    }
  });
}

export async function readDecision(db: Database, period: string, patientId: string): Promise<(AlignmentDecision & { runId: string; decidedAt: string }) | undefined> {
  const r = await db.query<{ decision: string; run_id: string; decided_at: Date }>(
    'SELECT decision::text AS decision, run_id, decided_at FROM alignment_decision WHERE period = $1 AND patient_id = $2',
    [period, patientId],
  );
  const row = r.rows[0];
  if (!row) return undefined;
  return { ...(JSON.parse(row.decision) as AlignmentDecision), runId: row.run_id, decidedAt: new Date(row.decided_at).toISOString() };
}

/** The periods that have decisions for a person, newest first. */
export async function decidedPeriods(db: Database, patientId: string): Promise<string[]> {
  const r = await db.query<{ period: string }>('SELECT period FROM alignment_decision WHERE patient_id = $1 ORDER BY period DESC', [patientId]);
  return r.rows.map((x) => x.period);
}
