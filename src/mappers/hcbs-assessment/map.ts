// One HCBS assessment (header + items + medications) → QuestionnaireResponse (whole instrument),
// an Observation per answered item, a collection per section and one for the instrument
// (hasMember), MedicationRequests (reportedBoolean) for the assessor's medication list, and the
// Patient / assessor / assessing entity they reference.
import type {
  CodeableConcept,
  Coding,
  MedicationRequest,
  Observation,
  OperationOutcomeIssue,
  Organization,
  QuestionnaireResponseItem,
} from '@medplum/fhirtypes';
import { type AssessmentFrame, buildAssessmentObservation, buildCollection, buildQuestionnaireResponse } from '../common/assessment.js';
import { meta, ref, sourceIdentifier } from '../common/fhir-helpers.js';
import { deterministicId } from '../common/ids.js';
import { recordIssue } from '../common/issues.js';
import { buildOrganization, buildPatient, buildPractitioner } from '../common/parties.js';
import { PROFILE } from '../common/profiles.js';
import { withProvenance } from '../common/provenance.js';
import { LEAD_CANONICAL, LOCAL_SYSTEM, SYSTEM } from '../common/systems.js';
import type { LineRow, MapContext, MappedResource, MapResult, RecordAction, SourceRow } from '../common/types.js';
import { normalizeNdc } from '../pharmacy-claims/ndc.js';
import {
  ANSWER_LISTS,
  type Column,
  type Family,
  findItem,
  INSTRUMENT_FAMILY,
  INSTRUMENT_PANEL,
  type ItemDef,
  SECTIONS,
  answerList,
} from './items.js';

export const LAYOUT = 'hcbs-assessment';

export function assessmentRecordId(row: SourceRow): string {
  return row.assessment_id;
}

export function questionnaireUrl(instrument: string): string {
  return `${LEAD_CANONICAL}/Questionnaire/${instrument.toLowerCase().replace(/_/g, '-')}`;
}

const itemSystem = (family: Family) => (family === 'INTERRAI' ? LOCAL_SYSTEM.interraiHcItem : LOCAL_SYSTEM.cmsAssessmentItem);
const responseSystem = (list: string) =>
  list === 'interrai-adl' ? LOCAL_SYSTEM.interraiHcResponse : `${LOCAL_SYSTEM.cmsAssessmentResponse}-${list}`;

function itemCode(item: ItemDef, family: Family, column: Column): CodeableConcept {
  const codings: Coding[] = [];
  const loinc = item.loinc?.[`${family}|${column}`];
  if (loinc) codings.push({ system: SYSTEM.loinc, code: loinc });
  // The raw item id with its column, so the two FASI columns stay distinct without LOINC.
  const local = column === 'single' ? item.id : `${item.id}.${column}`;
  codings.push({ system: itemSystem(family), code: local, display: `${item.display} (${column.replace(/_/g, ' ')})` });
  return { coding: codings, text: item.display };
}

function answerConcept(item: ItemDef, family: Family, column: Column, code: string): CodeableConcept {
  const list = answerList(item, family) as keyof typeof ANSWER_LISTS;
  const answer = ANSWER_LISTS[list][code];
  const codings: Coding[] = [];
  // An LA code belongs to the answer list bound to a specific LOINC item: only then is it attached.
  if (answer.la && item.loinc?.[`${family}|${column}`]) codings.push({ system: SYSTEM.loinc, code: answer.la, display: answer.display });
  codings.push({ system: responseSystem(list), code, display: answer.display });
  return { coding: codings, text: answer.display };
}

/** Per-row semantic checks for item rows: item known for the family, answer in its list. */
export function checkItemRow(row: SourceRow, line: number, family: Family | undefined): OperationOutcomeIssue[] {
  const item = findItem(row.item_id);
  if (!item) return [recordIssue(line, 'item_id', `unknown item ${row.item_id}`, { code: 'code-invalid' })];
  if (family && !item.families.includes(family)) {
    return [recordIssue(line, 'item_id', `item ${row.item_id} is not part of ${family}`, { code: 'code-invalid' })];
  }
  // GG performance items have columns; every other item is answered once (column "single").
  const columned = item.answers === 'fasi-performance';
  if (row.column !== undefined && columned === (row.column === 'single')) {
    return [recordIssue(line, 'column', columned ? `item ${row.item_id} needs a performance column, not single` : `item ${row.item_id} takes column single`, { code: 'code-invalid' })];
  }
  if (item.answers === 'text') {
    return row.response_text === undefined ? [recordIssue(line, 'response_text', 'required for a free-text item', { code: 'required' })] : [];
  }
  if (row.response_code === undefined) return [recordIssue(line, 'response_code', 'required field is missing', { code: 'required' })];
  // Without the header (per-row check) any answer list of the item's families is accepted.
  const list: Record<string, unknown> = Object.assign(
    {},
    ...(family ? [family] : item.families).map((f) => ANSWER_LISTS[answerList(item, f) as keyof typeof ANSWER_LISTS]),
  );
  if (!list[row.response_code]) {
    return [
      recordIssue(line, 'response_code', `unknown code ${row.response_code} for ${row.item_id}; expected one of: ${Object.keys(list).join(', ')}`, {
        code: 'code-invalid',
      }),
    ];
  }
  return [];
}

function checkAssessment(rows: LineRow[]): OperationOutcomeIssue[] {
  const issues: OperationOutcomeIssue[] = [];
  const [first, ...rest] = rows;
  if (first.row.record_type !== 'header') {
    return [recordIssue(first.line, 'record_type', `assessment ${first.row.assessment_id} does not start with its header row`, { code: 'structure' })];
  }
  const family = INSTRUMENT_FAMILY[first.row.instrument];
  const seen = new Set<string>();
  for (const { row, line } of rest) {
    if (row.record_type === 'header') issues.push(recordIssue(line, 'record_type', `second header for assessment ${row.assessment_id}`, { code: 'structure' }));
    if (row.record_type === 'item') {
      issues.push(...checkItemRow(row, line, family));
      const key = `${row.item_id}|${row.column}`;
      if (seen.has(key)) issues.push(recordIssue(line, 'item_id', `item ${row.item_id} (${row.column}) repeated`, { code: 'duplicate' }));
      seen.add(key);
    }
    if (row.record_type === 'medication') {
      const key = `med|${row.med_seq}`;
      if (seen.has(key)) issues.push(recordIssue(line, 'med_seq', `medication ${row.med_seq} repeated`, { code: 'duplicate' }));
      seen.add(key);
      if (!row.ndc && !row.rxnorm_cui && !row.drug_text) {
        issues.push(recordIssue(line, 'drug_text', 'a medication needs ndc, rxnorm_cui or drug_text', { code: 'required' }));
      }
      if (row.ndc) {
        const ndc = normalizeNdc(row.ndc);
        if (!ndc.ok) issues.push(recordIssue(line, 'ndc', ndc.reason, { code: 'value' }));
      }
    }
  }
  return issues;
}

export function mapHcbsAssessment(rows: LineRow[], ctx: MapContext): MapResult {
  const structural = checkAssessment(rows);
  if (structural.length) return { ok: false, issues: structural };
  const { row: h, line } = rows[0];
  const family = INSTRUMENT_FAMILY[h.instrument];
  const action = (h.record_action ?? 'new') as RecordAction;
  const recordId = `${h.submtg_state_cd}|${h.assessment_id}`;
  const patient = buildPatient({ state: h.submtg_state_cd, msisId: h.msis_id, mbi: h.mbi, birthDate: h.birth_date, sex: h.sex_cd });
  const performer = h.assessor_id || h.assessor_npi ? buildPractitioner(ctx.sourceOrg, { npi: h.assessor_npi, localId: h.assessor_id }) : undefined;
  let org: (Organization & { id: string }) | undefined;
  if (h.assessing_org_id || h.assessing_org_npi) {
    org = buildOrganization(
      ctx.sourceOrg,
      { npi: h.assessing_org_npi, localId: h.assessing_org_id },
      h.assessing_org_name ?? `Assessing entity ${h.assessing_org_npi ?? h.assessing_org_id}`,
    );
  }
  const frame: AssessmentFrame = { ctx, layout: LAYOUT, recordId, action, patient, performer, date: h.assessment_date };
  const items = rows.filter((r) => r.row.record_type === 'item');
  const meds = rows.filter((r) => r.row.record_type === 'medication');

  const qrItems: QuestionnaireResponseItem[] = items.map(({ row }) => {
    const item = findItem(row.item_id)!;
    const linkId = row.column === 'single' ? item.id : `${item.id}.${row.column}`;
    if (item.answers === 'text') return { linkId, text: item.display, answer: [{ valueString: row.response_text }] };
    const answer = answerConcept(item, family, row.column as Column, row.response_code);
    return { linkId, text: item.display, answer: [{ valueCoding: answer.coding!.at(-1)! }] };
  });
  const qr = buildQuestionnaireResponse(frame, questionnaireUrl(h.instrument), qrItems);

  const bySection = new Map<string, (Observation & { id: string })[]>();
  for (const { row } of items) {
    const item = findItem(row.item_id)!;
    if (item.answers === 'text') continue; // priorities live in the QuestionnaireResponse only
    const column = row.column as Column;
    const obs = buildAssessmentObservation(frame, `${item.id}.${column}`, itemCode(item, family, column), 'functional-status', qr);
    const icf = SECTIONS[item.section]?.icf;
    if (icf) obs.category!.push({ coding: [{ system: SYSTEM.icf, code: icf.code, display: icf.display }] });
    obs.valueCodeableConcept = answerConcept(item, family, column, row.response_code);
    if (org) obs.performer = [...(obs.performer ?? []), ref(org)];
    bySection.set(item.section, [...(bySection.get(item.section) ?? []), obs]);
  }
  const sections = [...bySection.entries()].map(([section, members]) =>
    buildCollection(
      frame,
      `section.${section}`,
      { coding: [{ system: itemSystem(family), code: section, display: SECTIONS[section]?.display ?? section }], text: SECTIONS[section]?.display },
      'functional-status',
      qr,
      members,
    ),
  );
  const panel = INSTRUMENT_PANEL[h.instrument];
  const instrumentCode: CodeableConcept = {
    coding: [
      ...(panel.loinc ? [{ system: SYSTEM.loinc, code: panel.loinc, display: panel.display }] : []),
      { system: itemSystem(family), code: h.instrument, display: panel.display },
    ],
    text: panel.display,
  };
  const instrumentObs = sections.length ? [buildCollection(frame, 'instrument', instrumentCode, 'functional-status', qr, sections)] : [];

  const medications = meds.map(({ row }) => reportedMedication(frame, row));
  const owned: MappedResource[] = [
    { resource: patient, mode: 'create-if-absent' },
    ...(performer ? [{ resource: performer, mode: 'create-if-absent' as const }] : []),
    ...(org ? [{ resource: org, mode: 'create-if-absent' as const }] : []),
    { resource: qr, mode: 'upsert' },
    ...[...bySection.values()].flat().map((o) => ({ resource: o, mode: 'upsert' as const })),
    ...sections.map((o) => ({ resource: o, mode: 'upsert' as const })),
    ...instrumentObs.map((o) => ({ resource: o, mode: 'upsert' as const })),
    ...medications.map((m) => ({ resource: m, mode: 'upsert' as const })),
  ];
  return {
    ok: true,
    record: {
      layout: LAYOUT,
      recordId,
      action,
      line,
      resources: withProvenance(ctx, LAYOUT, recordId, action, rows.map((r) => r.row), owned),
      issues: [],
    },
  };
}

/** The assessor's medication list: US Core MedicationRequest with reportedBoolean (US Core medication list guidance). */
function reportedMedication(f: AssessmentFrame, row: SourceRow): MedicationRequest & { id: string } {
  const codings: Coding[] = [];
  if (row.rxnorm_cui) codings.push({ system: SYSTEM.rxnorm, code: row.rxnorm_cui });
  if (row.ndc) {
    const ndc = normalizeNdc(row.ndc);
    if (ndc.ok) codings.push({ system: SYSTEM.ndc, code: ndc.ndc11 });
  }
  const text = [row.drug_text, row.strength_text].filter(Boolean).join(' ') || undefined;
  const medication: CodeableConcept = codings.length ? { coding: codings } : {};
  if (text) medication.text = text;
  const key = `${f.recordId}|med|${row.med_seq}`;
  const request: MedicationRequest & { id: string } = {
    resourceType: 'MedicationRequest',
    id: deterministicId(f.ctx.sourceOrg, LAYOUT, key, 'MedicationRequest'),
    meta: meta(PROFILE.medicationRequest),
    identifier: [sourceIdentifier(f.ctx.sourceOrg, LAYOUT, key)],
    status: f.action === 'delete' ? 'entered-in-error' : 'active',
    intent: 'plan',
    category: [{ coding: [{ system: SYSTEM.medicationRequestCategory, code: 'community', display: 'Community' }] }],
    reportedBoolean: true,
    medicationCodeableConcept: medication,
    subject: ref(f.patient),
    authoredOn: f.date,
  };
  if (row.sig_text || row.route || row.prn_flag) {
    const dosage: NonNullable<MedicationRequest['dosageInstruction']>[number] = {};
    if (row.sig_text) dosage.text = row.sig_text;
    if (row.route) dosage.route = { text: row.route };
    if (row.prn_flag) dosage.asNeededBoolean = row.prn_flag === 'Y';
    request.dosageInstruction = [dosage];
  }
  if (row.start_date) request.dispenseRequest = { validityPeriod: { start: row.start_date } };
  const notes = [
    row.med_source ? `Source: ${row.med_source}` : undefined,
    row.adherence_problem === 'Y' ? 'Assessor noted an adherence problem' : undefined,
  ].filter((n): n is string => !!n);
  if (notes.length) request.note = notes.map((text) => ({ text }));
  return request;
}
