import type { Coverage, Patient, Provenance } from '@medplum/fhirtypes';
import { checkRecord, eligibilityMonthLayout, mapEligibilityMonth } from '../../../src/mappers/eligibility-month/index.js';
import type { MappedRecord, SourceRow } from '../../../src/mappers/common/types.js';
import { expectAllValid } from '../../support/fhir-validation.js';
import { ctx } from '../../support/map-context.js';

const fullDual: SourceRow = {
  msis_id: 'M0000001',
  submtg_state_cd: '26',
  mbi: '1SA0A00AA00',
  birth_date: '1948-03-14',
  sex_cd: 'F',
  year_month: '2026-10',
  medicaid_enrolled: 'Y',
  dual_elgbl_cd: '02',
  mdcr_entlmt_buyin: 'C',
  wvr_type_cd: '06',
  wvr_id: 'MI.0233',
  elgblty_grp_cd: '23',
};

function mapRow(row: SourceRow): MappedRecord {
  expect(checkRecord(row, 2)).toEqual([]);
  const result = mapEligibilityMonth([{ line: 2, row }], ctx);
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.record;
}

const byType = <T>(r: MappedRecord, type: string): T[] =>
  r.resources.filter((m) => m.resource.resourceType === type).map((m) => m.resource as T);

describe('eligibility_month mapper', () => {
  it('maps a full-benefit dual month to Patient, Medicaid and Medicare FFS coverage', () => {
    const record = mapRow(fullDual);
    const [patient] = byType<Patient>(record, 'Patient');
    expect(patient.identifier).toEqual([
      expect.objectContaining({ system: 'https://lead-gateway.example.org/fhir/sid/medicaid/26', value: 'M0000001' }),
      expect.objectContaining({ system: 'http://hl7.org/fhir/sid/us-mbi', value: '1SA0A00AA00' }),
    ]);
    expect(patient).toMatchObject({ gender: 'female', birthDate: '1948-03-14' });

    const [medicaid, medicare] = byType<Coverage>(record, 'Coverage');
    expect(medicaid.type?.coding?.[0]).toEqual({ system: 'https://nahdo.org/sopt', code: '2', display: 'MEDICAID' });
    expect(medicaid.extension?.[0]).toEqual({
      url: 'https://lead-gateway.example.org/fhir/StructureDefinition/dual-status',
      valueCoding: expect.objectContaining({ system: 'https://bluebutton.cms.gov/fhir/CodeSystem/BENE-DUAL-STUS-CD', code: '02' }),
    });
    expect(medicaid.period).toEqual({ start: '2026-10-01', end: '2026-10-31' });
    expect(medicaid.beneficiary).toEqual({ reference: `Patient/${patient.id}` });
    expect(medicaid.class?.map((c) => [c.type.coding?.[0].code, c.value])).toEqual([
      ['group', 'MI.0233'],
      ['subgroup', '23'],
    ]);
    expect(medicare.type?.coding?.[0]).toEqual({ system: 'https://nahdo.org/sopt', code: '121', display: 'Medicare FFS' });
    expect(medicare.subscriberId).toBe('1SA0A00AA00');
    expect(medicare.class?.[0].value).toBe('C');

    const [prov] = byType<Provenance>(record, 'Provenance');
    expect(prov.target.map((t) => t.reference)).toEqual([
      `Patient/${patient.id}`,
      `Coverage/${medicaid.id}`,
      `Coverage/${medicare.id}`,
    ]);
    expect(prov.entity?.[0].what.identifier?.value).toBe('golden.csv');
    expect(prov.recorded).toBe('2026-11-02T08:00:00.000Z');
    expectAllValid(record.resources.map((m) => m.resource));
  });

  it('keeps a Medicare Advantage month as MA coverage (D-SNP: SOPT 141), never as Medicare FFS', () => {
    const record = mapRow({ ...fullDual, ma_contract_id: 'H1234', snp_type: 'DSNP' });
    const coverages = byType<Coverage>(record, 'Coverage');
    expect(coverages.map((c) => c.type?.coding?.[0].code)).toEqual(['2', '141']);
    expect(coverages[1].class?.map((c) => [c.type.coding?.[0].code, c.value])).toEqual([
      ['plan', 'H1234'],
      ['subplan', 'DSNP'],
    ]);
    expect(coverages[1].subscriberId).toBe('1SA0A00AA00');
    expect(record.issues[0]).toMatchObject({ severity: 'information', expression: ['ma_contract_id'] });
    const plain = mapRow({ ...fullDual, ma_contract_id: 'H1234' });
    expect(byType<Coverage>(plain, 'Coverage').map((c) => c.type?.coding?.[0].code)).toEqual(['2', '11']);
    expectAllValid([...record.resources, ...plain.resources].map((m) => m.resource));
  });

  it('names the partner MCO as payor of a managed care month (its relationship and alignment read it)', () => {
    const row = { ...fullDual, mc_plan_id: 'PLAN-A' };
    const result = mapEligibilityMonth([{ line: 2, row }], { ...ctx, medicaidPlans: { 'PLAN-A': 'mco-a' } });
    if (!result.ok) throw new Error('rejected');
    const [medicaid] = byType<Coverage>(result.record, 'Coverage');
    expect(medicaid.payor).toEqual([{ reference: 'Organization/mco-a' }]);
    expect(byType(result.record, 'Organization').map((o) => (o as { name?: string }).name)).not.toContain('State Medicaid agency (state code 26)');
    // A plan no partner runs: the state agency stays the payor.
    expect(byType<Coverage>(mapRow({ ...fullDual, mc_plan_id: 'PLAN-X' }), 'Coverage')[0].payor?.[0].display).toBe('State Medicaid agency (state code 26)');
  });

  it('keeps the residence (county FIPS, ZIP) on the Patient for the service-area check', () => {
    const [patient] = byType<Patient>(mapRow({ ...fullDual, county_fips: '39049', zip_cd: '43215' }), 'Patient');
    expect(patient.address).toEqual([{ use: 'home', district: '39049', postalCode: '43215' }]);
    expectAllValid([patient]);
  });

  it('emits no Medicare coverage without an MBI (US Core needs a member id), with a warning', () => {
    const { mbi: _m, ...noMbi } = fullDual;
    const record = mapRow(noMbi);
    expect(byType<Coverage>(record, 'Coverage').map((c) => c.type?.coding?.[0].code)).toEqual(['2']);
    expect(record.issues[0]).toMatchObject({ severity: 'warning', expression: ['mbi'] });
    expectAllValid(record.resources.map((m) => m.resource));
  });

  it('gives the same ids on re-ingest and on amend; delete marks coverages entered-in-error', () => {
    const first = mapRow(fullDual);
    const again = mapRow(fullDual);
    const amended = mapRow({ ...fullDual, record_action: 'amend', dual_elgbl_cd: '04' });
    const deleted = mapRow({ ...fullDual, record_action: 'delete' });
    const ids = (r: MappedRecord) => r.resources.filter((m) => m.mode === 'upsert').map((m) => m.resource.id);
    expect(ids(again)).toEqual(ids(first));
    expect(ids(amended)).toEqual(ids(first));
    expect(byType<Coverage>(deleted, 'Coverage').map((c) => c.status)).toEqual(['entered-in-error', 'entered-in-error']);
    expect(deleted.resources.find((m) => m.resource.resourceType === 'Patient')?.mode).toBe('create-if-absent');
    const provId = (r: MappedRecord) => byType<Provenance>(r, 'Provenance')[0].id;
    expect(provId(again)).toBe(provId(first));
    expect(provId(amended)).not.toBe(provId(first));
    expect(byType<Provenance>(amended, 'Provenance')[0].activity?.coding?.[0].code).toBe('UPDATE');
    expectAllValid(deleted.resources.map((m) => m.resource));
  });

  it('rejects missing fields, bad dates and unknown codes with line and field', () => {
    const { msis_id: _omit, ...noId } = fullDual;
    expect(checkRecord({ ...noId, year_month: '2026-13', dual_elgbl_cd: '07', birth_date: '1948-02-30' }, 7)).toEqual([
      expect.objectContaining({ code: 'required', expression: ['msis_id'], location: ['Line[7]'] }),
      expect.objectContaining({ expression: ['birth_date'], diagnostics: expect.stringContaining('not a valid date') }),
      expect.objectContaining({ expression: ['year_month'] }),
      expect.objectContaining({ code: 'code-invalid', expression: ['dual_elgbl_cd'] }),
    ]);
  });

  it('rejects a header with unknown or missing columns', () => {
    expect(eligibilityMonthLayout.checkHeader(['msis_id', 'state', 'year_month', 'medicaid_enrolled'])).toEqual([
      expect.objectContaining({ expression: ['state'], diagnostics: 'line 1, state: unknown column in header' }),
      expect.objectContaining({ expression: ['submtg_state_cd'], code: 'required' }),
    ]);
  });
});
