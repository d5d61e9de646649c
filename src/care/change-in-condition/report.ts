// A change-in-condition report (QuestionnaireResponse of the published Questionnaire): checked
// against the Questionnaire, then turned into what the care team acts on — an Observation per
// "yes", a Flag on the person and a Communication to the care-coordination points of contact.
// Pure functions; the write hook (intake-hook.ts) stores the result in the report's transaction.
import { createHash } from 'node:crypto';
import type {
  CareTeam,
  Communication,
  Flag,
  Observation,
  OperationOutcomeIssue,
  QuestionnaireResponse,
  QuestionnaireResponseItem,
  Reference,
} from '@medplum/fhirtypes';
import {
  CARE_COORDINATION_ROLE_SYSTEM,
  CHANGE_IN_CONDITION_QUESTIONNAIRE,
  CHANGE_IN_CONDITION_SYSTEM,
  CHANGE_ITEMS,
  CHANGE_ITEM_CODES,
  NOTE_ITEM,
  REPORT_CODE,
} from './vocabulary.js';

export interface ParsedReport {
  patientId: string;
  authored: string;
  /** Item codes answered "yes", in form order. */
  positive: string[];
  /** Item codes answered "no". */
  negative: string[];
}

/** True when the QuestionnaireResponse answers our Questionnaire (any version). */
export function isChangeInConditionReport(qr: QuestionnaireResponse): boolean {
  return (qr.questionnaire ?? '').split('|')[0] === CHANGE_IN_CONDITION_QUESTIONNAIRE;
}

const issue = (diagnostics: string, expression: string): OperationOutcomeIssue => ({ severity: 'error', code: 'invalid', diagnostics, expression: [expression] });

/**
 * Checks a report against the Questionnaire. Returns the parsed report, or the issues that make
 * it invalid (each with its FHIRPath expression). Answers may sit in the `changes` group (as the
 * Questionnaire lays them out) or at the top level.
 */
export function parseReport(qr: QuestionnaireResponse): { report?: ParsedReport; issues: OperationOutcomeIssue[] } {
  const issues: OperationOutcomeIssue[] = [];
  if (qr.status !== 'completed' && qr.status !== 'amended') {
    issues.push(issue(`A change-in-condition report must be completed or amended, not ${qr.status}`, 'QuestionnaireResponse.status'));
  }
  const patientId = /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(qr.subject?.reference ?? '')?.[1];
  if (!patientId) issues.push(issue('The report must name the person as subject: Patient/<id>', 'QuestionnaireResponse.subject'));
  if (!qr.authored) issues.push(issue('The report must say when it was made (authored)', 'QuestionnaireResponse.authored'));

  const answers = new Map<string, boolean>();
  const visit = (items: QuestionnaireResponseItem[] | undefined, path: string, inGroup: boolean): void => {
    (items ?? []).forEach((item, i) => {
      const at = `${path}.item[${i}]`;
      if (item.linkId === 'changes' && !inGroup) {
        if (item.answer?.length) issues.push(issue('The changes group has no answer of its own', `${at}.answer`));
        visit(item.item, at, true);
        return;
      }
      if (item.linkId === NOTE_ITEM.linkId && !inGroup) {
        if ((item.answer ?? []).length > 1 || (item.answer ?? []).some((a) => typeof a.valueString !== 'string')) {
          issues.push(issue('The note takes one text answer', `${at}.answer`));
        }
        return;
      }
      if (!CHANGE_ITEM_CODES.has(item.linkId ?? '')) {
        issues.push(issue(`Unknown item "${item.linkId}" for ${CHANGE_IN_CONDITION_QUESTIONNAIRE}`, `${at}.linkId`));
        return;
      }
      if (answers.has(item.linkId as string)) {
        issues.push(issue(`Item "${item.linkId}" is answered twice`, `${at}.linkId`));
        return;
      }
      const a = item.answer ?? [];
      if (a.length !== 1 || typeof a[0].valueBoolean !== 'boolean') {
        issues.push(issue(`Item "${item.linkId}" takes one yes/no answer (valueBoolean)`, `${at}.answer`));
        return;
      }
      answers.set(item.linkId as string, a[0].valueBoolean);
    });
  };
  visit(qr.item, 'QuestionnaireResponse', false);
  if (!answers.size && !issues.length) issues.push(issue('The report answers none of the change items', 'QuestionnaireResponse.item'));
  if (issues.length) return { issues };
  const ordered = CHANGE_ITEMS.map((i) => i.code).filter((c) => answers.has(c));
  return {
    issues,
    report: {
      patientId: patientId as string,
      authored: qr.authored as string,
      positive: ordered.filter((c) => answers.get(c)),
      negative: ordered.filter((c) => !answers.get(c)),
    },
  };
}

/** Deterministic ids of what a report derives: an amended report updates them in place. */
export function derivedIds(qrId: string): { observation(code: string): string; flag: string; communication: string } {
  const h = createHash('sha256').update(qrId).digest('hex').slice(0, 24);
  return { observation: (code) => `cic-${h}-${code}`, flag: `cic-${h}-flag`, communication: `cic-${h}-comm` };
}

/** Points of contact: members of the person's active CareTeams in a care-coordination role. */
export function pointsOfContact(teams: CareTeam[]): LocalRef[] {
  const out = new Map<string, LocalRef>();
  for (const t of teams) {
    if (t.status && t.status !== 'active') continue;
    for (const p of t.participant ?? []) {
      const coordinator = (p.role ?? []).some((r) => (r.coding ?? []).some((c) => c.system === CARE_COORDINATION_ROLE_SYSTEM));
      if (coordinator && p.member?.reference && !out.has(p.member.reference)) out.set(p.member.reference, { reference: p.member.reference });
    }
  }
  return [...out.values()];
}

// Reference types each derived element allows (R4), so the report's author fits.
const AUTHOR_TYPES = {
  performer: ['Practitioner', 'PractitionerRole', 'Organization', 'CareTeam', 'Patient', 'RelatedPerson'],
  flagAuthor: ['Device', 'Organization', 'Patient', 'Practitioner', 'PractitionerRole'],
  sender: ['Device', 'Organization', 'Patient', 'Practitioner', 'PractitionerRole', 'RelatedPerson', 'HealthcareService'],
};
/** A literal reference (plain, so it fits every element's target types once checked). */
export type LocalRef = { reference: string };

const fits = (ref: Reference | undefined, types: string[]): LocalRef | undefined =>
  ref?.reference && types.includes(ref.reference.split('/')[0]) ? { reference: ref.reference } : undefined;

const display = (code: string): string => CHANGE_ITEMS.find((i) => i.code === code)?.display ?? code;

/**
 * The Observations (one per "yes"), the Flag and the Communication of a stored report.
 * `author` defaults to the report's author, else the reporting organization.
 */
export function deriveFromReport(
  qr: QuestionnaireResponse & { id: string },
  report: ParsedReport,
  opts: { contacts: LocalRef[]; reporter?: string },
): { observations: Observation[]; flag: Flag; communication: Communication } {
  const ids = derivedIds(qr.id);
  const subject = { reference: `Patient/${report.patientId}` };
  const author = qr.author ?? (opts.reporter ? { reference: `Organization/${opts.reporter}` } : undefined);
  const source = { reference: `QuestionnaireResponse/${qr.id}` };
  const performer = fits(author, AUTHOR_TYPES.performer);
  const observations: Observation[] = report.positive.map((code) => ({
    resourceType: 'Observation',
    id: ids.observation(code),
    status: qr.status === 'amended' ? 'amended' : 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'survey', display: 'Survey' }] }],
    code: { coding: [{ system: CHANGE_IN_CONDITION_SYSTEM, code, display: display(code) }], text: display(code) },
    subject,
    effectiveDateTime: report.authored,
    ...(performer ? { performer: [performer] } : {}),
    valueBoolean: true,
    derivedFrom: [source],
  }));
  const summary = report.positive.length ? `Change in condition reported: ${report.positive.map(display).join('; ')}` : 'Change in condition report: no change noticed';
  const urgent = report.positive.some((c) => CHANGE_ITEMS.find((i) => i.code === c)?.urgent);
  const flagAuthor = fits(author, AUTHOR_TYPES.flagAuthor);
  const flag: Flag = {
    resourceType: 'Flag',
    id: ids.flag,
    status: report.positive.length ? 'active' : 'inactive',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/flag-category', code: 'clinical', display: 'Clinical' }] }],
    code: { coding: [REPORT_CODE], text: summary },
    subject,
    period: { start: report.authored },
    ...(flagAuthor ? { author: flagAuthor } : {}),
  };
  const sender = fits(author, AUTHOR_TYPES.sender);
  const communication: Communication = {
    resourceType: 'Communication',
    id: ids.communication,
    status: 'completed',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/communication-category', code: 'alert', display: 'Alert' }] }],
    priority: urgent ? 'urgent' : 'routine',
    subject,
    topic: { coding: [REPORT_CODE], text: REPORT_CODE.display },
    about: [source, { reference: `Flag/${ids.flag}` }],
    sent: report.authored,
    ...(opts.contacts.length ? { recipient: opts.contacts } : {}),
    ...(sender ? { sender } : {}),
    payload: [{ contentString: summary }, { contentReference: source }],
  };
  return { observations, flag, communication };
}
