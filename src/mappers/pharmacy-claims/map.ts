// T-MSIS TAF RX claim line → US Core MedicationDispense (+ MedicationRequest when the prescriber is known).
import type { CodeableConcept, Coding, MedicationDispense, MedicationRequest, Organization, Reference } from '@medplum/fhirtypes';
import { meta, ref, sourceIdentifier } from '../common/fhir-helpers.js';
import { deterministicId } from '../common/ids.js';
import { recordIssue } from '../common/issues.js';
import { buildOrganization, buildPatient, buildPractitioner } from '../common/parties.js';
import { PROFILE } from '../common/profiles.js';
import { withProvenance } from '../common/provenance.js';
import { SYSTEM } from '../common/systems.js';
import type { LineRow, MapContext, MappedResource, MapResult, RecordAction, SourceRow } from '../common/types.js';
import { UOM_TO_UCUM } from '../vocab/ncpdp-unit-of-measure.js';
import type { RxNormCrosswalk } from './crosswalk.js';
import { normalizeNdc } from './ndc.js';

export const LAYOUT = 'pharmacy-claims';

export function claimRecordId(row: SourceRow): string {
  return `${row.SUBMTG_STATE_CD}|${row.ORGNL_CLM_NUM}|${row.ORGNL_LINE_NUM}`;
}

/** NDC (always) and RxNorm (when the crosswalk knows the NDC), RxNorm first as US Core prefers. */
export function medicationConcept(ndc11: string, crosswalk: RxNormCrosswalk): CodeableConcept {
  const codings: Coding[] = [];
  const rx = crosswalk.get(ndc11);
  if (rx) codings.push({ system: SYSTEM.rxnorm, code: rx.rxcui, display: rx.display });
  codings.push({ system: SYSTEM.ndc, code: ndc11 });
  return rx ? { coding: codings, text: rx.display } : { coding: codings };
}

export function mapPharmacyClaim(rows: LineRow[], ctx: MapContext, crosswalk: RxNormCrosswalk): MapResult {
  const { row, line } = rows[0];
  const ndc = normalizeNdc(row.NDC_CD);
  if (!ndc.ok) return { ok: false, issues: [recordIssue(line, 'NDC_CD', ndc.reason, { code: 'value' })] };
  const action = (row.record_action ?? 'new') as RecordAction;
  const recordId = claimRecordId(row);
  const state = row.SUBMTG_STATE_CD;
  const patient = buildPatient({ state, msisId: row.MSIS_IDENT_NUM });
  const medication = medicationConcept(ndc.ndc11, crosswalk);
  const resources: MappedResource[] = [{ resource: patient, mode: 'create-if-absent' }];
  const issues = [];
  if (!crosswalk.has(ndc.ndc11)) {
    issues.push(
      recordIssue(line, 'NDC_CD', `NDC ${ndc.ndc11} not in the RxNorm crosswalk: NDC coding only`, {
        severity: 'warning',
        code: 'not-found',
      }),
    );
  }

  let request: (MedicationRequest & { id: string }) | undefined;
  if (row.PRSCRBNG_PRVDR_NUM) {
    const prescriber = buildPractitioner(ctx.sourceOrg, { npi: row.PRSCRBNG_PRVDR_NUM });
    // Refills of one prescription share RX_NUM, so they share one MedicationRequest.
    const rxKey = row.RX_NUM ? `rx|${state}|${row.PRSCRBNG_PRVDR_NUM}|${row.RX_NUM}` : `${recordId}|rx`;
    request = {
      resourceType: 'MedicationRequest',
      id: deterministicId(ctx.sourceOrg, LAYOUT, rxKey, 'MedicationRequest'),
      meta: meta(PROFILE.medicationRequest),
      identifier: [sourceIdentifier(ctx.sourceOrg, LAYOUT, rxKey)],
      // A claim proves a prescription existed, not whether it is still active.
      status: action === 'delete' && !row.RX_NUM ? 'entered-in-error' : 'unknown',
      intent: 'order',
      category: [
        { coding: [{ system: SYSTEM.medicationRequestCategory, code: 'community', display: 'Community' }] },
      ],
      medicationCodeableConcept: medication,
      subject: ref(patient),
      requester: ref(prescriber),
    };
    if (row.PRSCRBD_DT) request.authoredOn = row.PRSCRBD_DT;
    resources.push({ resource: prescriber, mode: 'create-if-absent' });
  }

  let pharmacyRef: Reference<Organization> | undefined;
  if (row.DSPNSNG_PD_PRVDR_NPI_NUM) {
    const pharmacy = buildOrganization(ctx.sourceOrg, { npi: row.DSPNSNG_PD_PRVDR_NPI_NUM }, `Pharmacy NPI ${row.DSPNSNG_PD_PRVDR_NPI_NUM}`);
    resources.push({ resource: pharmacy, mode: 'create-if-absent' });
    pharmacyRef = ref(pharmacy);
  }

  const dispense: MedicationDispense & { id: string } = {
    resourceType: 'MedicationDispense',
    id: deterministicId(ctx.sourceOrg, LAYOUT, recordId, 'MedicationDispense'),
    meta: meta(PROFILE.medicationDispense),
    identifier: [sourceIdentifier(ctx.sourceOrg, LAYOUT, recordId)],
    status: action === 'delete' ? 'entered-in-error' : 'completed',
    medicationCodeableConcept: medication,
    subject: ref(patient),
    // v3-ActCode FF "First Fill" / RF "Refill" (ActPharmacySupplyType).
    type: {
      coding: [
        row.NEW_REFL_IND && row.NEW_REFL_IND !== '00'
          ? { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'RF', display: 'Refill' }
          : { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'FF', display: 'First Fill' },
      ],
    },
    daysSupply: { value: Number(row.SUPLY_DAYS_CNT), unit: 'day', system: SYSTEM.ucum, code: 'd' },
    whenHandedOver: row.RX_FILL_DT,
  };
  if (row.DTL_MTRC_DCML_QTY) {
    const uom = row.UOM_CD ? UOM_TO_UCUM[row.UOM_CD] : undefined;
    dispense.quantity = uom
      ? { value: Number(row.DTL_MTRC_DCML_QTY), unit: uom.unit, system: SYSTEM.ucum, code: uom.code }
      : { value: Number(row.DTL_MTRC_DCML_QTY) };
  }
  if (pharmacyRef) dispense.performer = [{ actor: pharmacyRef }];
  if (request) {
    dispense.authorizingPrescription = [ref(request)];
    resources.push({ resource: request, mode: 'upsert' });
  }
  resources.push({ resource: dispense, mode: 'upsert' });
  return {
    ok: true,
    record: { layout: LAYOUT, recordId, action, line, resources: withProvenance(ctx, LAYOUT, recordId, action, row, resources), issues },
  };
}
