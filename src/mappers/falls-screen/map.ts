// falls_screen rows of one screen → QuestionnaireResponse, item Observations, score/level
// Observations, a collection, a fall RiskAssessment and, when positive, a Condition
// "at increased risk for falls" (SNOMED CT 129839007) with the score as evidence.
import type {
  CodeableConcept,
  Coding,
  Condition,
  Observation,
  OperationOutcomeIssue,
  QuestionnaireResponseItem,
  RiskAssessment,
} from '@medplum/fhirtypes';
import {
  type AssessmentFrame,
  buildAssessmentObservation,
  buildCollection,
  buildQuestionnaireResponse,
} from '../common/assessment.js';
import { meta, ref, sourceIdentifier } from '../common/fhir-helpers.js';
import { deterministicId } from '../common/ids.js';
import { recordIssue } from '../common/issues.js';
import { buildPatient, buildPractitioner } from '../common/parties.js';
import { PROFILE } from '../common/profiles.js';
import { withProvenance } from '../common/provenance.js';
import { LEAD_CANONICAL, LOCAL_SYSTEM, SYSTEM } from '../common/systems.js';
import type { LineRow, MapContext, MappedResource, MapResult, RecordAction } from '../common/types.js';
import {
  INSTRUMENTS,
  type Item,
  MORSE_LEVEL,
  SNOMED_AT_RISK_FOR_FALLS,
  SNOMED_FALL_EVENT,
  type Tool,
} from './instruments.js';
import { itemPoints, scoreScreen } from './scoring.js';

export const LAYOUT = 'falls-screen';
const SCREEN_FIELDS = ['submtg_state_cd', 'msis_id', 'screen_date', 'tool', 'record_action', 'assessor_id', 'assessor_npi'];

export function screenRecordId(row: Record<string, string>): string {
  return `${row.submtg_state_cd}|${row.screen_id}`;
}

export function questionnaireUrl(tool: Tool): string {
  return `${LEAD_CANONICAL}/Questionnaire/falls-${tool.toLowerCase().replace(/_/g, '-')}`;
}

function itemCode(tool: Tool, item: Item): CodeableConcept {
  const codings: Coding[] = [];
  if (item.loinc) codings.push({ system: SYSTEM.loinc, code: item.loinc, display: item.display });
  codings.push({ system: LOCAL_SYSTEM.fallsScreen, code: `${tool}.${item.id}`, display: item.display });
  return { coding: codings, text: item.display };
}

function answerConcept(tool: Tool, item: Item, response: string): CodeableConcept {
  const answer = item.answers![response];
  const codings: Coding[] = [];
  if (answer.la) codings.push({ system: SYSTEM.loinc, code: answer.la, display: answer.display });
  codings.push({ system: LOCAL_SYSTEM.fallsScreen, code: `${tool}.${item.id}.${response}`, display: answer.display });
  return { coding: codings, text: answer.display };
}

/** Cross-row checks: one screen, one person, one tool; every item once; complete where scored. */
function checkScreen(rows: LineRow[]): OperationOutcomeIssue[] {
  const issues: OperationOutcomeIssue[] = [];
  const head = rows[0].row;
  const seen = new Set<string>();
  for (const { row, line } of rows) {
    for (const f of SCREEN_FIELDS) {
      if ((row[f] ?? '') !== (head[f] ?? '')) issues.push(recordIssue(line, f, `differs from the screen's first row (line ${rows[0].line})`));
    }
    if (seen.has(row.item_id)) issues.push(recordIssue(line, 'item_id', `item ${row.item_id} repeated in screen ${row.screen_id}`));
    seen.add(row.item_id);
  }
  const instrument = INSTRUMENTS[head.tool as Tool];
  if (instrument.complete) {
    const missing = instrument.items.filter((i) => !seen.has(i.id)).map((i) => i.id);
    if (missing.length) {
      issues.push(recordIssue(rows[0].line, 'item_id', `screen ${head.screen_id} is incomplete: missing ${missing.join(', ')}`, { code: 'required' }));
    }
  }
  return issues;
}

export function mapFallsScreen(rows: LineRow[], ctx: MapContext): MapResult {
  const structural = checkScreen(rows);
  if (structural.length) return { ok: false, issues: structural };
  const { row: head, line } = rows[0];
  const tool = head.tool as Tool;
  const instrument = INSTRUMENTS[tool];
  const action = (head.record_action ?? 'new') as RecordAction;
  const recordId = screenRecordId(head);
  const warnings: OperationOutcomeIssue[] = [];

  const patient = buildPatient({ state: head.submtg_state_cd, msisId: head.msis_id });
  const performer =
    head.assessor_id || head.assessor_npi
      ? buildPractitioner(ctx.sourceOrg, { npi: head.assessor_npi, localId: head.assessor_id })
      : undefined;
  const frame: AssessmentFrame = { ctx, layout: LAYOUT, recordId, action, patient, performer, date: head.screen_date };

  // Answers in instrument order (stable output whatever the row order).
  const answers = new Map<string, string>();
  const byItem = new Map(rows.map((r) => [r.row.item_id, r]));
  let tugSeconds: number | undefined;
  for (const item of instrument.items) {
    const r = byItem.get(item.id);
    if (!r) continue;
    if (item.numeric) tugSeconds = Number(r.row.tug_seconds);
    else answers.set(item.id, r.row.response);
    if (r.row.item_points !== undefined && item.answers) {
      const expected = itemPoints(tool, item.id, r.row.response);
      if (Number(r.row.item_points) !== expected) {
        warnings.push(
          recordIssue(r.line, 'item_points', `supplied ${r.row.item_points}, recomputed ${expected}`, { severity: 'warning', code: 'business-rule' }),
        );
      }
    }
  }
  const outcome = scoreScreen(tool, answers, tugSeconds);
  const supplied = rows.find((r) => r.row.total_score !== undefined);
  if (supplied && outcome.score !== undefined && Number(supplied.row.total_score) !== outcome.score) {
    warnings.push(
      recordIssue(supplied.line, 'total_score', `supplied total ${supplied.row.total_score} does not match recomputed ${outcome.score}; the recomputed total is used`, {
        severity: 'warning',
        code: 'business-rule',
      }),
    );
  }
  const suppliedLevel = rows.find((r) => r.row.risk_level !== undefined)?.row.risk_level;
  if (suppliedLevel && !levelAgrees(suppliedLevel, outcome.band, outcome.atRisk)) {
    warnings.push(
      recordIssue(line, 'risk_level', `supplied ${suppliedLevel}, recomputed ${outcome.band}`, { severity: 'warning', code: 'business-rule' }),
    );
  }

  // QuestionnaireResponse: the instrument as answered.
  const qrItems: QuestionnaireResponseItem[] = instrument.items
    .filter((i) => byItem.has(i.id))
    .map((i) =>
      i.numeric
        ? { linkId: i.id, text: i.display, answer: [{ valueQuantity: { value: tugSeconds, unit: i.numeric.unit, system: SYSTEM.ucum, code: i.numeric.ucum } }] }
        : { linkId: i.id, text: i.display, answer: [{ valueCoding: answerConcept(tool, i, answers.get(i.id)!).coding!.at(-1)! }] },
    );
  const qr = buildQuestionnaireResponse(frame, questionnaireUrl(tool), qrItems);

  const itemObs: (Observation & { id: string })[] = instrument.items
    .filter((i) => byItem.has(i.id))
    .map((i) => {
      const obs = buildAssessmentObservation(frame, i.id, itemCode(tool, i), 'functional-status', qr);
      if (i.numeric) obs.valueQuantity = { value: tugSeconds, unit: i.numeric.unit, system: SYSTEM.ucum, code: i.numeric.ucum };
      else obs.valueCodeableConcept = answerConcept(tool, i, answers.get(i.id)!);
      return obs;
    });

  const scoreObs: (Observation & { id: string })[] = [];
  if (tool === 'MORSE' || tool === 'STEADI_SI12') {
    const code: CodeableConcept =
      tool === 'MORSE'
        ? { coding: [{ system: SYSTEM.loinc, code: '59460-6', display: 'Fall risk total [Morse Fall Scale]' }] }
        : { coding: [{ system: LOCAL_SYSTEM.fallsScreen, code: 'STEADI_SI12.TOTAL', display: 'Stay Independent total score' }] };
    const total = buildAssessmentObservation(frame, 'TOTAL', code, 'functional-status', qr);
    total.valueInteger = outcome.score;
    scoreObs.push(total);
  }
  if (tool === 'MORSE') {
    const level = buildAssessmentObservation(
      frame,
      'LEVEL',
      { coding: [{ system: SYSTEM.loinc, code: '59461-4', display: 'Fall risk level [Morse Fall Scale]' }] },
      'functional-status',
      qr,
    );
    const band = MORSE_LEVEL[outcome.band];
    level.valueCodeableConcept = { coding: [{ system: SYSTEM.loinc, code: band.la, display: band.display }], text: band.display };
    scoreObs.push(level);
  }
  const panelCode: CodeableConcept = {
    coding: [
      instrument.panel.system === 'loinc'
        ? { system: SYSTEM.loinc, code: instrument.panel.code, display: instrument.panel.display }
        : { system: LOCAL_SYSTEM.fallsScreen, code: instrument.panel.code, display: instrument.panel.display },
    ],
    text: instrument.title,
  };
  const members = [...itemObs, ...scoreObs];
  const collection = buildCollection(frame, 'PANEL', panelCode, 'functional-status', qr, members);
  const evidence = scoreObs.length ? scoreObs : itemObs;

  const risk: RiskAssessment & { id: string } = {
    resourceType: 'RiskAssessment',
    id: deterministicId(ctx.sourceOrg, LAYOUT, recordId, 'RiskAssessment'),
    meta: meta(PROFILE.fallRiskAssessment),
    identifier: [sourceIdentifier(ctx.sourceOrg, LAYOUT, `${recordId}|risk`)],
    status: action === 'delete' ? 'entered-in-error' : action === 'amend' ? 'amended' : 'final',
    method: panelCode,
    subject: ref(patient),
    occurrenceDateTime: head.screen_date,
    basis: [ref(collection), ...evidence.map((o) => ref(o))],
    prediction: [
      {
        outcome: { coding: [{ system: SYSTEM.snomed, ...SNOMED_FALL_EVENT }], text: 'Fall' },
        qualitativeRisk: { coding: [{ system: SYSTEM.riskProbability, code: outcome.band }] },
      },
    ],
  };
  if (performer) risk.performer = ref(performer);

  const owned: MappedResource[] = [
    { resource: patient, mode: 'create-if-absent' },
    ...(performer ? [{ resource: performer, mode: 'create-if-absent' as const }] : []),
    { resource: qr, mode: 'upsert' },
    ...members.map((o) => ({ resource: o, mode: 'upsert' as const })),
    { resource: collection, mode: 'upsert' },
    { resource: risk, mode: 'upsert' },
  ];
  // A positive screen asserts the finding; an amendment to negative refutes it; delete withdraws it.
  if (outcome.atRisk || action !== 'new') {
    owned.push({ resource: fallRiskCondition(frame, evidence, outcome.atRisk), mode: 'upsert' });
  }
  return {
    ok: true,
    record: { layout: LAYOUT, recordId, action, line, resources: withProvenance(ctx, LAYOUT, recordId, action, rows.map((r) => r.row), owned), issues: warnings },
  };
}

function fallRiskCondition(f: AssessmentFrame, evidence: (Observation & { id: string })[], atRisk: boolean): Condition & { id: string } {
  const condition: Condition & { id: string } = {
    resourceType: 'Condition',
    id: deterministicId(f.ctx.sourceOrg, LAYOUT, f.recordId, 'Condition'),
    meta: meta(PROFILE.fallRiskCondition),
    identifier: [sourceIdentifier(f.ctx.sourceOrg, LAYOUT, `${f.recordId}|condition`)],
    category: [
      { coding: [{ system: 'http://hl7.org/fhir/us/core/CodeSystem/condition-category', code: 'health-concern', display: 'Health Concern' }] },
      { coding: [{ system: SYSTEM.usCoreCategory, code: 'functional-status' }] },
    ],
    code: { coding: [{ system: SYSTEM.snomed, ...SNOMED_AT_RISK_FOR_FALLS }], text: 'At increased risk for falls' },
    subject: ref(f.patient),
    recordedDate: f.date,
    evidence: [{ detail: evidence.map((o) => ref(o)) }],
  };
  if (f.action === 'delete') {
    // con-4 style: an entered-in-error condition carries no clinical status.
    condition.verificationStatus = { coding: [{ system: SYSTEM.conditionVerification, code: 'entered-in-error' }] };
  } else {
    condition.clinicalStatus = { coding: [{ system: SYSTEM.conditionClinical, code: atRisk ? 'active' : 'inactive' }] };
    condition.verificationStatus = { coding: [{ system: SYSTEM.conditionVerification, code: atRisk ? 'confirmed' : 'refuted' }] };
  }
  return condition;
}

function levelAgrees(supplied: string, band: string, atRisk: boolean): boolean {
  if (supplied === 'at_risk') return atRisk;
  if (supplied === 'not_at_risk') return !atRisk;
  return supplied === band;
}
