// A person's current risk inputs → the protocol's facts, each with the resources it rests on.
// Pure: the edge (gather-inputs.ts) reads the candidate resources from the store; this file
// decides which of them are current and what they say. The inputs are what the mappers write
// (src/mappers): the falls-screen RiskAssessment and items, the 129839007 Condition, HCBS
// assessment item Observations, and the medication-risk Observations.
import type { CodeableConcept, Condition, Observation, Resource, RiskAssessment } from '@medplum/fhirtypes';
import { addDays } from '../mappers/common/dates.js';
import { PROFILE } from '../mappers/common/profiles.js';
import { LOCAL_SYSTEM, SYSTEM } from '../mappers/common/systems.js';
import { SNOMED_AT_RISK_FOR_FALLS, SNOMED_FALL_EVENT } from '../mappers/falls-screen/instruments.js';
import { SHARED_RISK_PROTOCOL_SYSTEM } from './codes.js';
import type { FactName, FactValue, RiskProtocol } from './protocol.js';
import type { RiskInputs } from './stratify.js';

/** Observation code systems whose writes are risk inputs (items, totals, collections, findings). */
export const INPUT_OBSERVATION_SYSTEMS = [
  LOCAL_SYSTEM.fallsScreen,
  LOCAL_SYSTEM.cmsAssessmentItem,
  LOCAL_SYSTEM.interraiHcItem,
  LOCAL_SYSTEM.medicationRisk,
] as const;

const hasCoding = (cc: CodeableConcept | undefined, system: string, code?: string): boolean =>
  !!cc?.coding?.some((c) => c.system === system && (code === undefined || c.code === code));
const codeIn = (cc: CodeableConcept | undefined, system: string): string | undefined => cc?.coding?.find((c) => c.system === system)?.code;

/** The shared RiskAssessment itself (never an input: recomputing on it would loop). */
export function isSharedRiskAssessment(r: Resource): boolean {
  return r.resourceType === 'RiskAssessment' && !!r.method?.coding?.some((c) => c.system === SHARED_RISK_PROTOCOL_SYSTEM);
}

function isFallsRiskAssessment(r: Resource): r is RiskAssessment {
  if (r.resourceType !== 'RiskAssessment' || isSharedRiskAssessment(r)) return false;
  return !!r.meta?.profile?.includes(PROFILE.fallRiskAssessment) || !!r.prediction?.some((p) => hasCoding(p.outcome, SYSTEM.snomed, SNOMED_FALL_EVENT.code));
}

function isFallRiskCondition(r: Resource): r is Condition {
  return r.resourceType === 'Condition' && hasCoding(r.code, SYSTEM.snomed, SNOMED_AT_RISK_FOR_FALLS.code);
}

/** Whether a written resource can change someone's shared risk (the write hook's test: no I/O). */
export function isRiskInput(r: Resource): boolean {
  if (r.resourceType === 'Observation') return INPUT_OBSERVATION_SYSTEMS.some((s) => hasCoding(r.code, s));
  return isFallsRiskAssessment(r) || isFallRiskCondition(r);
}

/** The Patient id a risk input is about (subject), if any. */
export function patientOfInput(r: Resource): string | undefined {
  const ref = (r as { subject?: { reference?: string } }).subject?.reference ?? '';
  return /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(ref)?.[1];
}

const refOf = (r: Resource): string => `${r.resourceType}/${r.id as string}`;
const day = (v: string | undefined): string | undefined => (v && /^\d{4}-\d{2}-\d{2}/.test(v) ? v.slice(0, 10) : undefined);

function obsDate(o: Observation): string | undefined {
  return day(o.effectiveDateTime ?? o.effectivePeriod?.end ?? o.effectivePeriod?.start ?? o.effectiveInstant ?? o.issued);
}

function current(r: Resource): boolean {
  if (r.resourceType === 'Observation' || r.resourceType === 'RiskAssessment') return r.status !== 'entered-in-error' && r.status !== 'cancelled';
  if (r.resourceType === 'Condition') return !hasCoding(r.verificationStatus, SYSTEM.conditionVerification, 'entered-in-error');
  return true;
}

/** Latest first; equal dates by id, so the choice never depends on the order rows came back. */
function latestFirst<T extends { date: string; key: string }>(items: T[]): T[] {
  return [...items].sort((a, b) => (a.date === b.date ? (a.key < b.key ? 1 : -1) : a.date < b.date ? 1 : -1));
}

/** Every fact unknown: what a person with no inputs has. */
export const EMPTY_FACTS: Record<FactName, FactValue> = {
  fallsScreenPositive: null,
  fallsScreenBand: null,
  fallRiskConditionActive: null,
  recentFall: null,
  recentFallWithInjury: null,
  recentFallsTwoOrMore: null,
  adlDependencyCount: null,
  mobilityAssistance: null,
  polypharmacy: null,
  concurrentMedications: null,
  fridClassCount: null,
};

/**
 * The facts for one person as of `asOf` (YYYY-MM-DD) from their stored resources (any order;
 * unrelated resources are ignored). Inputs older than the protocol's look-back do not count.
 */
export function riskInputs(resources: Resource[], protocol: RiskProtocol, asOf: string): RiskInputs {
  const live = resources.filter((r) => current(r) && !isSharedRiskAssessment(r));
  const facts = { ...EMPTY_FACTS };
  const evidence: RiskInputs['evidence'] = {};
  fallsScreenFacts(live, addDays(asOf, -protocol.lookbackDays.fallsScreen), facts, evidence);
  functionalFacts(live, addDays(asOf, -protocol.lookbackDays.functionalAssessment), facts, evidence);
  medicationFacts(live, addDays(asOf, -protocol.lookbackDays.medicationRisk), facts, evidence);
  return { facts, evidence };
}

// ---- falls screens -------------------------------------------------------------------------

/** Items saying the person fell, fell with injury, or fell more than once (local falls-screen codes `TOOL.ITEM`). */
const FELL: Record<string, (answer: string) => boolean> = {
  'STEADI_3Q.KQ1': (a) => a === 'Y',
  'STEADI_SI12.SI01': (a) => a === 'Y',
  'MORSE.MFS1': (a) => a === 'Y',
  'MDS_J.J1700A': (a) => a === '1',
  'MDS_J.J1700B': (a) => a === '1',
  'MDS_J.J1800': (a) => a === '1',
  'MDS_J.J1900A': (a) => a === '1' || a === '2',
  'MDS_J.J1900B': (a) => a === '1' || a === '2',
  'MDS_J.J1900C': (a) => a === '1' || a === '2',
};
const INJURY: Record<string, (answer: string) => boolean> = {
  'MDS_J.J1700C': (a) => a === '1',
  'MDS_J.J1900B': (a) => a === '1' || a === '2',
  'MDS_J.J1900C': (a) => a === '1' || a === '2',
};
const FALL_COUNT_ITEMS = ['MDS_J.J1900A', 'MDS_J.J1900B', 'MDS_J.J1900C'];

function fallsScreenFacts(live: Resource[], since: string, facts: Record<FactName, FactValue>, evidence: RiskInputs['evidence']): void {
  const screens = latestFirst(
    live
      .filter(isFallsRiskAssessment)
      .map((r) => ({ r, date: day(r.occurrenceDateTime ?? r.occurrencePeriod?.end) ?? '', key: r.id as string }))
      .filter((s) => s.date >= since),
  );
  const latest = screens[0];
  if (latest) {
    const band = codeIn(latest.r.prediction?.[0]?.qualitativeRisk, SYSTEM.riskProbability) ?? null;
    facts.fallsScreenBand = band;
    // The mappers assert "at risk" for every band above low (STEADI: high/low; Morse: from moderate).
    facts.fallsScreenPositive = band === null ? null : band !== 'low' && band !== 'negligible';
    evidence.fallsScreenPositive = [refOf(latest.r)];
  }

  // A Condition counts unless a later screen superseded it (a negative screen after a positive one).
  const conditions = live
    .filter(isFallRiskCondition)
    .map((c) => ({ c, date: day(c.recordedDate ?? c.onsetDateTime) ?? '' }))
    .filter((x) => x.date >= since && (!latest || x.date >= latest.date));
  if (conditions.length) {
    facts.fallRiskConditionActive = conditions.some(
      ({ c }) => hasCoding(c.clinicalStatus, SYSTEM.conditionClinical, 'active') && !hasCoding(c.verificationStatus, SYSTEM.conditionVerification, 'refuted'),
    );
    evidence.fallRiskConditionActive = conditions.map(({ c }) => refOf(c));
  }

  // Recent falls: the latest screen of each tool that asks about falls.
  const items = live
    .filter((r): r is Observation => r.resourceType === 'Observation')
    .map((o) => ({ o, item: codeIn(o.code, LOCAL_SYSTEM.fallsScreen), date: obsDate(o) ?? '' }))
    .filter((x): x is { o: Observation; item: string; date: string } => !!x.item && (x.item in FELL || x.item in INJURY) && x.date >= since);
  const byTool = new Map<string, typeof items>();
  for (const x of items) {
    const tool = x.item.split('.')[0];
    byTool.set(tool, [...(byTool.get(tool) ?? []), x]);
  }
  if (!byTool.size) return;
  let fell = false;
  let injury: boolean | null = null;
  let twoOrMore: boolean | null = null;
  const used: string[] = [];
  for (const toolItems of byTool.values()) {
    const newest = latestFirst(toolItems.map((x) => ({ ...x, key: x.o.derivedFrom?.[0]?.reference ?? (x.o.id as string) })))[0];
    const screen = toolItems.filter((x) => x.date === newest.date && (x.o.derivedFrom?.[0]?.reference ?? (x.o.id as string)) === newest.key);
    let count = 0;
    for (const { o, item } of screen) {
      const answer = answerOf(o, item);
      if (answer === undefined) continue;
      used.push(refOf(o));
      if (FELL[item]?.(answer)) fell = true;
      if (item in INJURY) injury = (injury ?? false) || INJURY[item](answer);
      if (FALL_COUNT_ITEMS.includes(item)) {
        count += Number(answer) || 0;
        twoOrMore = (twoOrMore ?? false) || answer === '2';
      }
    }
    if (count >= 2) twoOrMore = true;
  }
  if (!used.length) return;
  facts.recentFall = fell;
  facts.recentFallWithInjury = injury;
  facts.recentFallsTwoOrMore = twoOrMore;
  const refs = [...new Set(used)];
  evidence.recentFall = refs;
}

/** The answer code of a falls-screen item (`TOOL.ITEM.ANSWER` in the local system). */
function answerOf(o: Observation, item: string): string | undefined {
  const code = codeIn(o.valueCodeableConcept, LOCAL_SYSTEM.fallsScreen);
  return code?.startsWith(`${item}.`) ? code.slice(item.length + 1) : undefined;
}

// ---- HCBS functional assessment ------------------------------------------------------------

/** Walking, transfers and steps (FASI / MDS GG0170; interRAI HC G2e-g). */
const MOBILITY_ITEMS = new Set([
  'GG0170D', 'GG0170E', 'GG0170F', 'GG0170G', 'GG0170I', 'GG0170J', 'GG0170K', 'GG0170L', 'GG0170M', 'GG0170N',
  'GG0170O', 'GG0170U', 'GG0170W', 'GG0170X', 'G2e', 'G2f', 'G2g',
]);
const ADL_SECTIONS = ['GG0130', 'GG0170', 'G2'];
/** FASI / MDS performance: 01 dependent, 02 substantial/maximal, 03 partial/moderate (04 supervision/touching and up: not counted). */
const GG_DEPENDENT = new Set(['01', '02']);
const GG_HANDS_ON = new Set(['01', '02', '03']);
/** interRAI HC ADL: 4 extensive, 5 maximal, 6 total dependence; 3 limited assistance (8 = did not occur). */
const RAI_DEPENDENT = new Set(['4', '5', '6']);
const RAI_HANDS_ON = new Set(['3', '4', '5', '6']);

function functionalFacts(live: Resource[], since: string, facts: Record<FactName, FactValue>, evidence: RiskInputs['evidence']): void {
  const obs = live
    .filter((r): r is Observation => r.resourceType === 'Observation')
    .map((o) => {
      const interrai = codeIn(o.code, LOCAL_SYSTEM.interraiHcItem);
      const code = interrai ?? codeIn(o.code, LOCAL_SYSTEM.cmsAssessmentItem);
      return { o, code, interrai: !!interrai, date: obsDate(o) ?? '', key: o.derivedFrom?.[0]?.reference ?? '' };
    })
    .filter((x): x is typeof x & { code: string } => !!x.code && x.key !== '' && x.date >= since);
  const latest = latestFirst(obs.filter((x) => x.o.valueCodeableConcept))[0];
  if (!latest) return;
  const assessment = obs.filter((x) => x.key === latest.key);
  const dependent = new Set<string>();
  let mobility = false;
  let answered = 0;
  for (const x of assessment) {
    const [item, column] = x.code.split('.');
    if (!x.o.valueCodeableConcept || column === 'discharge_goal' || !ADL_SECTIONS.some((s) => item.startsWith(s))) continue;
    const answer = x.o.valueCodeableConcept.coding?.find(
      (c) => c.system === LOCAL_SYSTEM.interraiHcResponse || c.system?.startsWith(`${LOCAL_SYSTEM.cmsAssessmentResponse}-`),
    )?.code;
    if (!answer) continue;
    answered++;
    if ((x.interrai ? RAI_DEPENDENT : GG_DEPENDENT).has(answer)) dependent.add(item);
    if (MOBILITY_ITEMS.has(item) && (x.interrai ? RAI_HANDS_ON : GG_HANDS_ON).has(answer)) mobility = true;
  }
  if (!answered) return;
  facts.adlDependencyCount = dependent.size;
  facts.mobilityAssistance = mobility;
  // The self-care and mobility section collections (hasMember → the items) when present, else the items.
  const sections = assessment.filter((x) => ADL_SECTIONS.includes(x.code) && x.o.hasMember?.length);
  const refs = (sections.length ? sections : assessment.filter((x) => x.o.valueCodeableConcept)).map((x) => refOf(x.o));
  evidence.adlDependencyCount = [...new Set(refs)];
}

// ---- medication risk -----------------------------------------------------------------------

function medicationFacts(live: Resource[], since: string, facts: Record<FactName, FactValue>, evidence: RiskInputs['evidence']): void {
  const findings = (code: string) => {
    const all = live
      .filter((r): r is Observation => r.resourceType === 'Observation' && hasCoding(r.code, LOCAL_SYSTEM.medicationRisk, code))
      .map((o) => ({ o, date: obsDate(o) ?? '' }))
      .filter((x) => x.date >= since);
    const newest = all.reduce((d, x) => (x.date > d ? x.date : d), '');
    // Several senders (SMA, MCO) may report the same as-of date: all of them count.
    return all.filter((x) => x.date === newest).map((x) => x.o);
  };
  const poly = findings('polypharmacy');
  if (poly.length) {
    facts.polypharmacy = poly.some((o) => o.valueBoolean === true);
    const peaks = poly.flatMap((o) => o.component ?? []).filter((c) => hasCoding(c.code, LOCAL_SYSTEM.medicationRisk, 'peak-concurrent-medications'));
    facts.concurrentMedications = peaks.length ? Math.max(...peaks.map((c) => c.valueInteger ?? 0)) : null;
    evidence.polypharmacy = poly.map(refOf);
  }
  const frid = findings('fall-risk-increasing-drug');
  if (frid.length) {
    const classes = new Set(
      frid
        .filter((o) => o.valueBoolean === true)
        .flatMap((o) => o.component ?? [])
        .filter((c) => hasCoding(c.code, LOCAL_SYSTEM.medicationRisk, 'frid-class'))
        .map((c) => codeIn(c.valueCodeableConcept, LOCAL_SYSTEM.fridClass))
        .filter((c): c is string => !!c),
    );
    // A positive finding without class components still counts as one class.
    facts.fridClassCount = classes.size || (frid.some((o) => o.valueBoolean === true) ? 1 : 0);
    evidence.fridClassCount = frid.map(refOf);
  }
}
