// Medication risk for one person, from their dispenses: polypharmacy (≥ N distinct medications
// supplied on the same day: fill date + days supply overlap) and fall-risk-increasing drug classes.
// Both are Observations naming the dispenses they rest on, so a reader can check the basis. R4
// Observation.derivedFrom cannot point at a MedicationDispense, so the dispenses go in the core
// extension workflow-supportingInfo (Reference(Any), context Observation) instead.
// Pure; the pipeline gathers a person's dispenses and decides when to recompute.
import type { MedicationDispense, Observation, ObservationComponent, Patient, Reference } from '@medplum/fhirtypes';
import { addDays } from '../common/dates.js';
import { meta, ref, sourceIdentifier } from '../common/fhir-helpers.js';
import { deterministicId } from '../common/ids.js';
import { PROFILE } from '../common/profiles.js';
import { LOCAL_SYSTEM, SYSTEM } from '../common/systems.js';
import type { MapContext, MappedResource } from '../common/types.js';

export interface FridClassList {
  version: string;
  classes: { code: string; display: string; ingredients: string[] }[];
}

export interface MedicationRiskOptions {
  /** Distinct concurrent medications that make polypharmacy (default 5: common convention, not a CMS rule). */
  polypharmacyThreshold?: number;
  /** Days before asOf (inclusive of asOf) in which concurrency is assessed (default 90). */
  lookbackDays?: number;
  fridClasses: FridClassList;
}

type Dispense = MedicationDispense & { id: string };
const LAYOUT = 'medication-risk';
const SUPPORTING_INFO = 'http://hl7.org/fhir/StructureDefinition/workflow-supportingInfo';

/** Medication identity for counting: RxNorm concept, else NDC labeler+product (first 9 of 11 digits). */
function medicationKey(d: MedicationDispense): string | undefined {
  const codings = d.medicationCodeableConcept?.coding ?? [];
  const rx = codings.find((c) => c.system === SYSTEM.rxnorm)?.code;
  if (rx) return `rxnorm:${rx}`;
  const ndc = codings.find((c) => c.system === SYSTEM.ndc)?.code;
  return ndc ? `ndc:${ndc.slice(0, 9)}` : undefined;
}

function supplyWindow(d: MedicationDispense): { start: string; end: string } | undefined {
  const start = d.whenHandedOver?.slice(0, 10);
  const days = d.daysSupply?.value;
  if (!start || !days || days < 1) return undefined;
  return { start, end: addDays(start, days - 1) };
}

export function fridClassesOf(d: MedicationDispense, list: FridClassList): FridClassList['classes'] {
  const text = (d.medicationCodeableConcept?.coding?.find((c) => c.system === SYSTEM.rxnorm)?.display ??
    d.medicationCodeableConcept?.text ??
    '').toLowerCase();
  if (!text) return [];
  return list.classes.filter((c) => c.ingredients.some((i) => new RegExp(`\\b${i}\\b`).test(text)));
}

/** Largest number of distinct medications supplied on one day in [from, to], and the dispenses that count. */
export function peakConcurrency(dispenses: Dispense[], from: string, to: string): { peak: number; day?: string; used: Dispense[] } {
  const spans = dispenses
    .filter((d) => d.status !== 'entered-in-error')
    .map((d) => ({ d, key: medicationKey(d), w: supplyWindow(d) }))
    .filter((s) => s.key && s.w && s.w.end >= from && s.w.start <= to);
  let peak = 0;
  let peakDay: string | undefined;
  for (let day = from; day <= to; day = addDays(day, 1)) {
    const keys = new Set(spans.filter((s) => s.w!.start <= day && day <= s.w!.end).map((s) => s.key));
    if (keys.size > peak) {
      peak = keys.size;
      peakDay = day;
    }
  }
  return { peak, day: peakDay, used: spans.map((s) => s.d) };
}

export function assessMedicationRisk(
  input: { patient: Patient & { id: string }; dispenses: Dispense[]; asOf: string },
  ctx: MapContext,
  options: MedicationRiskOptions,
): MappedResource[] {
  const threshold = options.polypharmacyThreshold ?? 5;
  const from = addDays(input.asOf, -((options.lookbackDays ?? 90) - 1));
  const { peak, used } = peakConcurrency(input.dispenses, from, input.asOf);
  if (used.length === 0) return [];
  const byId = (a: Dispense, b: Dispense) => (a.id < b.id ? -1 : 1);
  const subject: Reference<Patient> = ref(input.patient);
  const base = (kind: string, code: string, display: string, derived: Dispense[]): Observation & { id: string } => {
    const recordId = `${input.patient.id}|${kind}|${input.asOf}`;
    return {
      resourceType: 'Observation',
      id: deterministicId(ctx.sourceOrg, LAYOUT, recordId),
      meta: meta(PROFILE.medicationRiskObservation),
      identifier: [sourceIdentifier(ctx.sourceOrg, LAYOUT, recordId)],
      status: 'final',
      category: [{ coding: [{ system: SYSTEM.observationCategory, code: 'therapy', display: 'Therapy' }] }],
      code: { coding: [{ system: LOCAL_SYSTEM.medicationRisk, code, display }], text: display },
      subject,
      effectivePeriod: { start: from, end: input.asOf },
      extension: [...derived].sort(byId).map((d) => ({ url: SUPPORTING_INFO, valueReference: ref(d) })),
    };
  };

  const poly = base('polypharmacy', 'polypharmacy', `Polypharmacy: ${threshold} or more concurrent medications`, used);
  poly.valueBoolean = peak >= threshold;
  poly.component = [
    {
      code: { coding: [{ system: LOCAL_SYSTEM.medicationRisk, code: 'peak-concurrent-medications', display: 'Peak concurrent medications' }] },
      valueInteger: peak,
    },
    {
      code: { coding: [{ system: LOCAL_SYSTEM.medicationRisk, code: 'polypharmacy-threshold', display: 'Polypharmacy threshold' }] },
      valueInteger: threshold,
    },
  ];

  const fridHits = used.map((d) => ({ d, classes: fridClassesOf(d, options.fridClasses) })).filter((h) => h.classes.length);
  const frid = base(
    'frid',
    'fall-risk-increasing-drug',
    'Fall-risk-increasing drug supplied',
    fridHits.length ? fridHits.map((h) => h.d) : used,
  );
  frid.valueBoolean = fridHits.length > 0;
  const classCodes = [...new Map(fridHits.flatMap((h) => h.classes).map((c) => [c.code, c])).values()];
  const components: ObservationComponent[] = classCodes.map((c) => ({
    code: { coding: [{ system: LOCAL_SYSTEM.medicationRisk, code: 'frid-class', display: 'FRID class' }] },
    valueCodeableConcept: {
      coding: [{ system: LOCAL_SYSTEM.fridClass, version: options.fridClasses.version, code: c.code, display: c.display }],
    },
  }));
  if (components.length) frid.component = components;
  return [
    { resource: poly, mode: 'upsert' },
    { resource: frid, mode: 'upsert' },
  ];
}
