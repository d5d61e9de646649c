// One person's risk inputs as the real mappers emit them (falls screens, HCBS assessments,
// medication-risk findings), so the risk tests exercise the mappers' exact codes.
import type { MedicationDispense, Resource } from '@medplum/fhirtypes';
import { readFileSync } from 'node:fs';
import { buildPatient } from '../../src/mappers/common/parties.js';
import type { MapContext, MappedResource, RecordAction, SourceRow } from '../../src/mappers/common/types.js';
import { mapFallsScreen } from '../../src/mappers/falls-screen/map.js';
import { INSTRUMENTS, type Tool } from '../../src/mappers/falls-screen/instruments.js';
import { mapHcbsAssessment } from '../../src/mappers/hcbs-assessment/map.js';
import { assessMedicationRisk, type FridClassList } from '../../src/mappers/pharmacy-claims/medication-risk.js';
import { SYSTEM } from '../../src/mappers/common/systems.js';

export const fridClasses = JSON.parse(readFileSync('config/medication-risk/frid-classes.json', 'utf8')) as FridClassList;

export function riskCtx(sourceOrg = 'sma-state'): MapContext {
  return { sourceOrg, sourceOrgName: 'Example State Medicaid Agency', fileName: 'risk-test.csv', now: () => new Date('2026-11-02T08:00:00.000Z') };
}

export const person = (msisId: string) => buildPatient({ state: '26', msisId });

function resources(result: ReturnType<typeof mapFallsScreen>): MappedResource[] {
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.record.resources;
}

/** A falls screen: every item of the tool answered (defaults: the "no" / lowest answer), `answers` overriding. */
export function fallsScreen(o: {
  msisId: string;
  screenId: string;
  date: string;
  tool: Tool;
  answers?: Record<string, string>;
  tugSeconds?: number;
  action?: RecordAction;
  ctx?: MapContext;
}): MappedResource[] {
  const instrument = INSTRUMENTS[o.tool];
  const rows = instrument.items
    .filter((i) => o.tool !== 'MDS_J' || o.answers?.[i.id] !== undefined)
    .map((item, n) => {
      const row: SourceRow = {
        screen_id: o.screenId,
        submtg_state_cd: '26',
        msis_id: o.msisId,
        screen_date: o.date,
        tool: o.tool,
        item_id: item.id,
        record_action: o.action ?? 'new',
      };
      if (item.numeric) row.tug_seconds = String(o.tugSeconds ?? 8);
      else row.response = o.answers?.[item.id] ?? Object.keys(item.answers!).find((k) => k === 'N' || k === '0') ?? Object.keys(item.answers!)[0];
      return { line: n + 2, row };
    });
  return resources(mapFallsScreen(rows, o.ctx ?? riskCtx()));
}

/** An HCBS assessment with the given GG / interRAI item answers: [item, column, code]. */
export function hcbsAssessment(o: {
  msisId: string;
  assessmentId: string;
  date: string;
  instrument?: string;
  items: [string, string, string][];
  action?: RecordAction;
  ctx?: MapContext;
}): MappedResource[] {
  const header: SourceRow = {
    assessment_id: o.assessmentId,
    record_type: 'header',
    submtg_state_cd: '26',
    msis_id: o.msisId,
    instrument: o.instrument ?? 'FASI_1_1',
    assessment_date: o.date,
    record_action: o.action ?? 'new',
  };
  const rows = [
    { line: 2, row: header },
    ...o.items.map(([item_id, column, response_code], n) => ({
      line: n + 3,
      row: { assessment_id: o.assessmentId, record_type: 'item', item_id, column, response_code } as SourceRow,
    })),
  ];
  return resources(mapHcbsAssessment(rows, o.ctx ?? riskCtx()));
}

/** Dispenses of the named drugs (RxNorm display text), each 30 days from `filled`. */
export function dispenses(msisId: string, filled: string, drugs: string[]): (MedicationDispense & { id: string })[] {
  const patient = person(msisId);
  return drugs.map((drug, n) => ({
    resourceType: 'MedicationDispense',
    id: `disp-${msisId}-${filled}-${n}`,
    status: 'completed',
    medicationCodeableConcept: { coding: [{ system: SYSTEM.rxnorm, code: `99000${n}`, display: drug }] },
    subject: { reference: `Patient/${patient.id}` },
    whenHandedOver: filled,
    daysSupply: { value: 30, unit: 'day', system: SYSTEM.ucum, code: 'd' },
  }));
}

/** The medication-risk Observations (polypharmacy, FRID) as the pharmacy pipeline computes them. */
export function medicationRisk(msisId: string, asOf: string, drugs: string[], ctx = riskCtx()): MappedResource[] {
  return assessMedicationRisk({ patient: person(msisId), dispenses: dispenses(msisId, asOf, drugs), asOf }, ctx, { fridClasses });
}

export const only = (mapped: MappedResource[]): Resource[] => mapped.map((m) => m.resource);
export const FIVE_PLAIN_DRUGS = [
  'lisinopril 10 MG Oral Tablet',
  'metformin hydrochloride 500 MG Oral Tablet',
  'atorvastatin 20 MG Oral Tablet',
  'levothyroxine sodium 0.05 MG Oral Tablet',
  'omeprazole 20 MG Delayed Release Oral Capsule',
];
