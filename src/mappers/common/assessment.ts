// Builders shared by the assessment-like layouts (HCBS assessments, falls screens): the
// QuestionnaireResponse for the whole instrument and Observations derived from it, following the
// PACIO PFE pattern (item Observation → derivedFrom the QR; section collection → hasMember).
import type {
  CodeableConcept,
  Observation,
  Patient,
  Practitioner,
  QuestionnaireResponse,
  QuestionnaireResponseItem,
  Reference,
} from '@medplum/fhirtypes';
import { meta, ref, sourceIdentifier } from './fhir-helpers.js';
import { deterministicId } from './ids.js';
import { PROFILE } from './profiles.js';
import { SYSTEM } from './systems.js';
import type { MapContext, RecordAction } from './types.js';

export interface AssessmentFrame {
  ctx: MapContext;
  layout: string;
  recordId: string;
  action: RecordAction;
  patient: Patient & { id: string };
  performer?: Practitioner & { id: string };
  /** ISO date (or dateTime) the instrument was completed. */
  date: string;
}

/** US Core screening-assessment category besides `survey` (us-core-category CodeSystem). */
export type AssessmentCategory = 'functional-status' | 'cognitive-status' | 'disability-status' | 'sdoh';

const OBS_STATUS: Record<RecordAction, Observation['status']> = { new: 'final', amend: 'amended', delete: 'entered-in-error' };
const QR_STATUS: Record<RecordAction, QuestionnaireResponse['status']> = {
  new: 'completed',
  amend: 'amended',
  delete: 'entered-in-error',
};

export function buildQuestionnaireResponse(
  f: AssessmentFrame,
  questionnaire: string,
  items: QuestionnaireResponseItem[],
): QuestionnaireResponse & { id: string } {
  const qr: QuestionnaireResponse & { id: string } = {
    resourceType: 'QuestionnaireResponse',
    id: deterministicId(f.ctx.sourceOrg, f.layout, f.recordId, 'QuestionnaireResponse'),
    meta: meta(PROFILE.questionnaireResponse),
    identifier: sourceIdentifier(f.ctx.sourceOrg, f.layout, f.recordId),
    questionnaire,
    status: QR_STATUS[f.action],
    subject: ref(f.patient),
    authored: f.date,
    item: items,
  };
  if (f.performer) qr.author = ref(f.performer);
  return qr;
}

export function buildAssessmentObservation(
  f: AssessmentFrame,
  key: string,
  code: CodeableConcept,
  category: AssessmentCategory,
  qr: QuestionnaireResponse & { id: string },
): Observation & { id: string } {
  const obs: Observation & { id: string } = {
    resourceType: 'Observation',
    id: deterministicId(f.ctx.sourceOrg, f.layout, f.recordId, 'Observation', key),
    meta: meta(PROFILE.assessmentObservation),
    identifier: [sourceIdentifier(f.ctx.sourceOrg, f.layout, `${f.recordId}|${key}`)],
    status: OBS_STATUS[f.action],
    category: [
      { coding: [{ system: SYSTEM.observationCategory, code: 'survey', display: 'Survey' }] },
      { coding: [{ system: SYSTEM.usCoreCategory, code: category }] },
    ],
    code,
    subject: ref(f.patient),
    effectiveDateTime: f.date,
    derivedFrom: [ref(qr)],
  };
  if (f.performer) obs.performer = [ref(f.performer)];
  return obs;
}

/** A section or instrument collection: no value, hasMember → its item Observations. */
export function buildCollection(
  f: AssessmentFrame,
  key: string,
  code: CodeableConcept,
  category: AssessmentCategory,
  qr: QuestionnaireResponse & { id: string },
  members: (Observation & { id: string })[],
): Observation & { id: string } {
  const obs = buildAssessmentObservation(f, key, code, category, qr);
  obs.hasMember = members.map((m) => ref(m) as Reference<Observation>);
  return obs;
}
