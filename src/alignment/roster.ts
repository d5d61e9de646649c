// One alignment roster per ACO and performance period, as a Group in the style of the Da Vinci
// Member Attribution List (ATR STU2.1, ../shared mapping-spec §4.1): member.entity, member.period,
// member.inactive, and the ATR member extensions changeType (new | dropped | changed | nochange)
// and coverageReference. Pure: the previous version of the Group in, the next one out.
import type { Extension, Group, GroupMember } from '@medplum/fhirtypes';
import { createHash } from 'node:crypto';
import { LEAD_CANONICAL } from '../mappers/common/systems.js';
import type { AlignmentSegment, Pathway } from './rules.js';

export const ROSTER_IDENTIFIER_SYSTEM = `${LEAD_CANONICAL}/sid/alignment-roster`;
export const PATHWAY_EXTENSION = `${LEAD_CANONICAL}/StructureDefinition/alignment-pathway`;
export const PATHWAY_SYSTEM = `${LEAD_CANONICAL}/CodeSystem/alignment-pathway`;
const ATR = 'http://hl7.org/fhir/us/davinci-atr/StructureDefinition';
export const CHANGE_TYPE_EXTENSION = `${ATR}/ext-changeType`;
export const COVERAGE_REFERENCE_EXTENSION = `${ATR}/ext-coverageReference`;
const CONTRACT_PERIOD_EXTENSION = `${ATR}/ext-contractValidityPeriod`;

export type ChangeType = 'new' | 'dropped' | 'changed' | 'nochange';

const PATHWAY_DISPLAY: Record<Pathway, string> = {
  voluntary: 'Voluntary alignment',
  claims: 'Claims-based alignment',
  'medicaid-enrollment': 'Medicaid enrollment with a Medicaid partner of the ACO',
};

/** The roster Group's id: readable when it fits, a digest when the ACO id is long. */
export function rosterGroupId(acoId: string, period: string): string {
  const id = `alignment-${acoId}-${period}`;
  return /^[A-Za-z0-9\-.]{1,64}$/.test(id) ? id : `alignment-${createHash('sha256').update(`${acoId}|${period}`).digest('hex').slice(0, 40)}-${period}`;
}

export interface RosterInput {
  acoId: string;
  acoName: string;
  period: string;
  /** This ACO's segments, by patient id. */
  segments: Map<string, AlignmentSegment[]>;
  previous?: Group;
}

const ext = (m: GroupMember, url: string): Extension | undefined => m.extension?.find((e) => e.url === url);

/** What identifies a member entry apart from its change type: period and pathway. */
function signature(entries: { period?: { start?: string; end?: string }; pathway?: string }[]): string {
  return entries
    .map((e) => `${e.period?.start}/${e.period?.end}/${e.pathway}`)
    .sort()
    .join(';');
}

function activeEntriesByPatient(group: Group | undefined): Map<string, GroupMember[]> {
  const out = new Map<string, GroupMember[]>();
  for (const m of group?.member ?? []) {
    if (m.inactive) continue;
    const id = /^Patient\/(.+)$/.exec(m.entity.reference ?? '')?.[1];
    if (!id) continue;
    out.set(id, [...(out.get(id) ?? []), m]);
  }
  return out;
}

const memberSignature = (members: GroupMember[]): string =>
  signature(members.map((m) => ({ period: m.period, pathway: ext(m, PATHWAY_EXTENSION)?.valueCoding?.code })));

/**
 * The roster Group for one ACO and period, with change types against `previous`. Returns
 * undefined when nothing but change types would differ (re-running on the same data makes no
 * new version, so "roster changed" means a change).
 */
export function buildRoster(input: RosterInput): { group: Group; counts: Record<ChangeType, number> } | undefined {
  const { acoId, period } = input;
  const before = activeEntriesByPatient(input.previous);
  const counts: Record<ChangeType, number> = { new: 0, dropped: 0, changed: 0, nochange: 0 };
  const member: GroupMember[] = [];
  const patients = [...input.segments.keys()].sort();
  for (const patientId of patients) {
    const segs = input.segments.get(patientId)!;
    const prev = before.get(patientId);
    const change: ChangeType = !prev ? 'new' : memberSignature(prev) === signature(segs.map((s) => ({ period: { start: s.start, end: s.end }, pathway: s.pathway }))) ? 'nochange' : 'changed';
    counts[change]++;
    for (const s of segs) {
      const extension: Extension[] = [
        { url: CHANGE_TYPE_EXTENSION, valueCode: change },
        { url: PATHWAY_EXTENSION, valueCoding: { system: PATHWAY_SYSTEM, code: s.pathway, display: PATHWAY_DISPLAY[s.pathway] } },
      ];
      if (s.coverageId) extension.push({ url: COVERAGE_REFERENCE_EXTENSION, valueReference: { reference: `Coverage/${s.coverageId}` } });
      member.push({ extension, entity: { reference: `Patient/${patientId}` }, period: { start: s.start, end: s.end }, inactive: false });
    }
  }
  for (const [patientId, prev] of [...before.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    if (input.segments.has(patientId)) continue;
    counts.dropped++;
    const starts = prev.map((m) => m.period?.start ?? '').sort();
    const ends = prev.map((m) => m.period?.end ?? '').sort();
    member.push({
      extension: [{ url: CHANGE_TYPE_EXTENSION, valueCode: 'dropped' }],
      entity: { reference: `Patient/${patientId}` },
      period: { start: starts[0], end: ends[ends.length - 1] },
      inactive: true,
    });
  }
  if (input.previous && !counts.new && !counts.dropped && !counts.changed) return undefined;
  const group: Group = {
    resourceType: 'Group',
    id: rosterGroupId(acoId, period),
    extension: [{ url: CONTRACT_PERIOD_EXTENSION, valuePeriod: { start: `${period}-01-01`, end: `${period}-12-31` } }],
    identifier: [{ system: ROSTER_IDENTIFIER_SYSTEM, value: `${acoId}|${period}` }],
    active: true,
    type: 'person',
    actual: true,
    name: `LEAD alignment roster: ${input.acoName}, performance year ${period}`,
    managingEntity: { reference: `Organization/${acoId}` },
    quantity: patients.length,
  };
  if (member.length) group.member = member;
  return { group, counts };
}
