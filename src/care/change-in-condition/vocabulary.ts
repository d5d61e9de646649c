// The change-in-condition report: its local CodeSystem, the published Questionnaire and the
// CareTeam role codes of the care-coordination points of contact. Pure data, no I/O.
//
// Modelled on the idea of "Stop and Watch" early-warning reports by personal care aides, in
// our own wording: the INTERACT Stop and Watch tool is copyrighted, so neither its text nor its
// codes are reproduced. Every code here is local (LEAD_CANONICAL) — no external code system was
// checked or is implied.
import type { CodeSystem, Questionnaire, QuestionnaireItem } from '@medplum/fhirtypes';
import { LEAD_CANONICAL } from '../../mappers/common/systems.js';

export const CHANGE_IN_CONDITION_SYSTEM = `${LEAD_CANONICAL}/CodeSystem/change-in-condition`;
export const CHANGE_IN_CONDITION_QUESTIONNAIRE = `${LEAD_CANONICAL}/Questionnaire/change-in-condition`;
export const CHANGE_IN_CONDITION_VERSION = '1.0.0';
/** The report as a whole (Flag.code, Communication.topic, Observation.category text). */
export const REPORT_CODE = { system: CHANGE_IN_CONDITION_SYSTEM, code: 'change-in-condition', display: 'Change in condition reported' };

/** The yes/no items, in form order. linkId = code. */
export const CHANGE_ITEMS: ReadonlyArray<{ code: string; display: string; question: string; urgent?: boolean }> = [
  { code: 'seems-different', display: 'Seems different than usual', question: 'Does the person seem different from their usual self?' },
  { code: 'talks-less', display: 'Talks or communicates less', question: 'Is the person talking or communicating less than usual?' },
  { code: 'needs-more-help', display: 'Needs more help', question: 'Does the person need more help with daily activities than usual?' },
  { code: 'pain', display: 'New or worse pain', question: 'Does the person have new pain, or pain that is worse?' },
  { code: 'ate-drank-less', display: 'Ate or drank less', question: 'Did the person eat or drink less than usual?' },
  { code: 'weight-change', display: 'Weight change', question: 'Has the person noticeably gained or lost weight?' },
  { code: 'agitated', display: 'Agitated or nervous', question: 'Is the person more agitated or nervous than usual?' },
  { code: 'tired-confused-drowsy', display: 'Tired, weak, confused or drowsy', question: 'Is the person more tired, weak, confused or drowsy than usual?', urgent: true },
  { code: 'skin-change', display: 'Change in skin colour or condition', question: 'Is there a change in the skin (colour, a new sore, a wound)?' },
  { code: 'help-walking', display: 'Needs more help walking or transferring', question: 'Does the person need more help walking, transferring or using the toilet?' },
  { code: 'fall', display: 'Had a fall', question: 'Has the person fallen since the last visit?', urgent: true },
];

/** Free-text note (optional; never logged). */
export const NOTE_ITEM = { linkId: 'note', text: 'What did you notice? (optional)' };

export const CHANGE_ITEM_CODES = new Set(CHANGE_ITEMS.map((i) => i.code));

/** CareTeam.participant.role codes of the designated care-coordination points of contact. */
export const CARE_COORDINATION_ROLE_SYSTEM = `${LEAD_CANONICAL}/CodeSystem/care-coordination-role`;
export const CARE_COORDINATION_ROLES = [
  { code: 'aco-rn-care-coordinator', display: 'ACO RN care coordinator' },
  { code: 'mco-ltss-case-manager', display: 'MCO LTSS case manager' },
] as const;

export function changeInConditionCodeSystem(): CodeSystem {
  return {
    resourceType: 'CodeSystem',
    id: 'change-in-condition',
    url: CHANGE_IN_CONDITION_SYSTEM,
    version: CHANGE_IN_CONDITION_VERSION,
    name: 'ChangeInCondition',
    title: 'Change-in-condition report items (LEAD gateway, local)',
    status: 'active',
    experimental: false,
    publisher: 'LEAD FHIR Gateway',
    description:
      'Observations an HCBS aide or case manager reports when a person seems to be changing. Own wording, local codes; not the INTERACT Stop and Watch tool.',
    caseSensitive: true,
    content: 'complete',
    concept: [{ code: REPORT_CODE.code, display: REPORT_CODE.display }, ...CHANGE_ITEMS.map((i) => ({ code: i.code, display: i.display, definition: i.question }))],
  };
}

export function careCoordinationRoleCodeSystem(): CodeSystem {
  return {
    resourceType: 'CodeSystem',
    id: 'care-coordination-role',
    url: CARE_COORDINATION_ROLE_SYSTEM,
    version: '1.0.0',
    name: 'CareCoordinationRole',
    title: 'Care-coordination points of contact (LEAD gateway, local)',
    status: 'active',
    experimental: false,
    publisher: 'LEAD FHIR Gateway',
    description: 'CareTeam.participant.role of the people a change-in-condition report is addressed to.',
    caseSensitive: true,
    content: 'complete',
    concept: CARE_COORDINATION_ROLES.map((r) => ({ code: r.code, display: r.display })),
  };
}

export function changeInConditionQuestionnaire(): Questionnaire {
  const yesNo = (i: (typeof CHANGE_ITEMS)[number]): QuestionnaireItem => ({
    linkId: i.code,
    code: [{ system: CHANGE_IN_CONDITION_SYSTEM, code: i.code, display: i.display }],
    text: i.question,
    type: 'boolean',
    required: false,
  });
  return {
    resourceType: 'Questionnaire',
    id: 'change-in-condition',
    url: CHANGE_IN_CONDITION_QUESTIONNAIRE,
    version: CHANGE_IN_CONDITION_VERSION,
    name: 'ChangeInConditionReport',
    title: 'Change-in-condition report',
    status: 'active',
    experimental: false,
    subjectType: ['Patient'],
    publisher: 'LEAD FHIR Gateway',
    description:
      'A short early-warning report by a personal care aide or case manager. Each "yes" becomes an Observation; the report raises a Flag for the person and a Communication to the care-coordination points of contact (CareTeam).',
    code: [REPORT_CODE],
    item: [
      { linkId: 'changes', text: 'Since the last visit, have you noticed any of these changes?', type: 'group', item: CHANGE_ITEMS.map(yesNo) },
      { linkId: NOTE_ITEM.linkId, text: NOTE_ITEM.text, type: 'text', required: false },
    ],
  };
}

/** What the gateway publishes for the report (server-made, like the partner directory). */
export function changeInConditionResources(): Array<Questionnaire | CodeSystem> {
  return [changeInConditionCodeSystem(), careCoordinationRoleCodeSystem(), changeInConditionQuestionnaire()];
}
