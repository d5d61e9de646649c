// The explanation of one beneficiary's alignment as a FHIR Parameters resource (the answer of
// Patient/[id]/$alignment). Pure. A Medicaid partner (SMA, MCO) sees every ACO's evaluation; any
// other organization sees only its own, and other ACOs' names are withheld from the details.
import type { Parameters, ParametersParameter } from '@medplum/fhirtypes';
import { LEAD_CANONICAL } from '../mappers/common/systems.js';
import { PATHWAY_SYSTEM } from './roster.js';
import type { AlignmentDecision } from './rules.js';

export const CRITERION_SYSTEM = `${LEAD_CANONICAL}/CodeSystem/alignment-criterion`;

export interface Viewer {
  organizationId: string;
  /** SMA and MCO: the Medicaid side of every agreement, entitled to the whole explanation. */
  fullView: boolean;
}

/** "2027-01, 2027-02, 2027-03, 2027-07" → "2027-01..2027-03, 2027-07" */
export function monthRanges(months: string[]): string {
  const sorted = [...months].sort();
  const next = (m: string): string => {
    const [y, mo] = m.split('-').map(Number);
    return mo === 12 ? `${y + 1}-01` : `${y}-${String(mo + 1).padStart(2, '0')}`;
  };
  const out: string[] = [];
  let start = sorted[0];
  let prev = sorted[0];
  for (const m of sorted.slice(1)) {
    if (m === next(prev)) {
      prev = m;
      continue;
    }
    out.push(start === prev ? start : `${start}..${prev}`);
    start = prev = m;
  }
  if (start) out.push(start === prev ? start : `${start}..${prev}`);
  return out.join(', ');
}

export function explainAlignment(decision: AlignmentDecision & { runId: string; decidedAt: string }, viewer: Viewer): Parameters {
  const mine = (aco: string) => viewer.fullView || aco === viewer.organizationId;
  // Only the not-aligned-elsewhere detail names other ACOs; the rules list them in `mentions`.
  const redact = (text: string, mentions: string[] = []) =>
    viewer.fullView ? text : mentions.filter((m) => m !== viewer.organizationId).reduce((t, m) => t.split(m).join('another ACO'), text);
  const segments = decision.segments.filter((s) => mine(s.acoId));
  const parameter: ParametersParameter[] = [
    { name: 'patient', valueReference: { reference: `Patient/${decision.patientId}` } },
    { name: 'period', valueString: decision.period },
    { name: 'decidedAt', valueInstant: decision.decidedAt },
    { name: 'run', valueString: decision.runId },
    { name: 'outcome', valueCode: segments.length ? 'aligned' : 'not-aligned' },
  ];
  for (const s of segments) {
    parameter.push({
      name: 'alignment',
      part: [
        { name: 'aco', valueReference: { reference: `Organization/${s.acoId}` } },
        { name: 'pathway', valueCoding: { system: PATHWAY_SYSTEM, code: s.pathway } },
        { name: 'period', valuePeriod: { start: s.start, end: s.end } },
      ],
    });
  }
  for (const ev of decision.evaluations.filter((e) => mine(e.acoId))) {
    const part: ParametersParameter[] = [
      { name: 'aco', valueReference: { reference: `Organization/${ev.acoId}` } },
      { name: 'pathway', valueCoding: { system: PATHWAY_SYSTEM, code: 'medicaid-enrollment' } },
    ];
    if (ev.eligibleMonths.length) part.push({ name: 'eligibleMonths', valueString: monthRanges(ev.eligibleMonths) });
    for (const f of ev.failures) {
      part.push({
        name: 'failed',
        part: [
          { name: 'criterion', valueCoding: { system: CRITERION_SYSTEM, code: f.criterion } },
          { name: 'months', valueString: monthRanges(f.months) },
          { name: 'detail', valueString: redact(f.detail, f.mentions) },
        ],
      });
    }
    parameter.push({ name: 'evaluation', part });
  }
  for (const s of decision.supplied.filter((x) => mine(x.acoId))) {
    parameter.push({
      name: 'supplied',
      part: [
        { name: 'aco', valueReference: { reference: `Organization/${s.acoId}` } },
        { name: 'pathway', valueCoding: { system: PATHWAY_SYSTEM, code: s.pathway } },
        { name: 'period', valuePeriod: { start: s.start, ...(s.end ? { end: s.end } : {}) } },
      ],
    });
  }
  return { resourceType: 'Parameters', parameter };
}
