// Alignment end to end on PostgreSQL: eligibility files ingested through the gateway's write
// path, an ACO-supplied claims roster, two alignment runs (roster deltas), the roster Groups
// searched and the explanations read over HTTP with real SMART tokens of the demo partners.
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { execFile } from 'node:child_process';
import { TEST_DATABASE_URL } from '../../helpers/database.js';
import type { Group } from '@medplum/fhirtypes';
import { loadPartners, medicaidPlansOf } from '../../../src/config/partners.js';
import { runAsSource } from '../../../src/exchange/write-source.js';
import { ingest } from '../../../src/ingest/pipeline.js';
import { eligibilityMonthLayout } from '../../../src/mappers/eligibility-month/index.js';
import { patientId } from '../../../src/mappers/common/parties.js';
import { runAlignment } from '../../../src/alignment/run.js';
import { readSuppliedRoster } from '../../../src/alignment/supplied-rosters.js';
import { CHANGE_TYPE_EXTENSION, ROSTER_IDENTIFIER_SYSTEM } from '../../../src/alignment/roster.js';
import { http, type RunningGateway } from '../../helpers/gateway.js';
import { downloadAll, runExport, startBulkGateway, type BulkFixture } from '../bulk/helpers.js';
import { demoToken } from '../../helpers/demo-token.js';

const prefix = `test:align:${randomUUID()}:`;
const dir = `${process.cwd()}/tmp/align-test-${randomUUID()}`;
const partners = loadPartners('config/partners.json');
let gw: RunningGateway;
let bulk: BulkFixture;

// Performance year 2028: the demo agreements (config/partners.json) start on 2028-01-01.
const MONTHS = ['2028-01', '2028-02', '2028-03'];
const COLUMNS = ['record_action', 'msis_id', 'submtg_state_cd', 'mbi', 'sex_cd', 'county_fips', 'year_month', 'medicaid_enrolled', 'dual_elgbl_cd', 'mdcr_entlmt_buyin', 'ma_contract_id', 'snp_type', 'mc_plan_id'];
type Row = Partial<Record<(typeof COLUMNS)[number], string>>;
const base: Row = { submtg_state_cd: '39', sex_cd: 'F', county_fips: '39049', medicaid_enrolled: 'Y', dual_elgbl_cd: '02', mdcr_entlmt_buyin: 'C' };
const people: Record<string, Row> = {
  bluecare: { ...base, msis_id: 'AL0000001', mbi: '1SA0A00AA01', mc_plan_id: 'OH-BLUE-01' }, // → aco-sunrise via its MCO partner
  dsnp: { ...base, msis_id: 'AL0000002', mbi: '1SA0A00AA02', mc_plan_id: 'OH-BLUE-01', ma_contract_id: 'H1234', snp_type: 'DSNP' }, // MA: none
  ffs: { ...base, msis_id: 'AL0000003', mbi: '1SA0A00AA03' }, // fee-for-service → aco-sunrise via the SMA
  greenway: { ...base, msis_id: 'AL0000004', mbi: '1SA0A00AA04', mc_plan_id: 'OH-GRN-01' }, // partner MCO of another ACO, outside its area: none
  claims: { ...base, msis_id: 'AL0000005', mbi: '1SA0A00AA05', mc_plan_id: 'OH-BLUE-01' }, // claims-aligned to aco-riverside
};
const id = (who: string) => patientId({ state: '39', msisId: people[who].msis_id! });

function csv(rows: Row[]): string {
  return [COLUMNS.join(','), ...rows.map((r) => COLUMNS.map((c) => r[c] ?? '').join(','))].join('\n') + '\n';
}

async function ingestRows(rows: Row[]): Promise<void> {
  const report = await runAsSource('sma-state', () =>
    ingest(Readable.from([csv(rows)]), {
      layout: eligibilityMonthLayout,
      format: 'csv',
      repo: gw.gateway.repo,
      ctx: { sourceOrg: 'sma-state', sourceOrgName: 'SMA', fileName: 'elig.csv', now: () => new Date('2028-04-02T00:00:00Z'), medicaidPlans: medicaidPlansOf(partners) },
    }),
  );
  expect(report.rejected).toBe(0);
}

const rosterGroup = async (aco: string) => gw.gateway.repo.read<Group>('Group', `alignment-${aco}-2028`);
const changes = (g: Group) =>
  Object.fromEntries(
    (g.member ?? []).map((m) => [m.entity.reference!.slice('Patient/'.length), m.extension?.find((e) => e.url === CHANGE_TYPE_EXTENSION)?.valueCode]),
  );

beforeAll(async () => {
  mkdirSync(dir, { recursive: true });
  // With an export worker in the process: the roster is exported with Group/[id]/$export.
  bulk = await startBulkGateway('postgres', { EXCHANGE_QUEUE_PREFIX: `${prefix}ex` });
  gw = bulk.gw;
  await ingestRows(Object.values(people).flatMap((p) => MONTHS.map((m) => ({ ...p, year_month: m }))));
}, 180_000);

afterAll(async () => {
  await bulk?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('alignment runs and rosters', () => {
  let first: Awaited<ReturnType<typeof runAlignment>>;

  it('first run: rosters per ACO with the right pathways, all members new', async () => {
    writeFileSync(`${dir}/claims.csv`, `aco_id,alignment_type,start,mbi\naco-riverside,claims,2028-01-01,${people.claims.mbi}\n`);
    const supplied = await readSuppliedRoster(`${dir}/claims.csv`, gw.gateway.db, partners);
    first = await runAlignment({ db: gw.gateway.db, repo: gw.gateway.repo, directory: partners, period: '2028', supplied });
    expect(first).toMatchObject({ beneficiaries: 5, aligned: 3, byPathway: { 'medicaid-enrollment': 2, claims: 1 } });
    const sunrise = await rosterGroup('aco-sunrise');
    expect(changes(sunrise)).toEqual({ [id('bluecare')]: 'new', [id('ffs')]: 'new' });
    expect(sunrise.member?.[0].period).toEqual({ start: '2028-01-01', end: '2028-03-31' });
    expect(changes(await rosterGroup('aco-riverside'))).toEqual({ [id('claims')]: 'new' });
    expect(sunrise.meta?.versionId).toBe('1');
  });

  it('a re-run on unchanged data writes no new roster version', async () => {
    const supplied = await readSuppliedRoster(`${dir}/claims.csv`, gw.gateway.db, partners);
    const again = await runAlignment({ db: gw.gateway.db, repo: gw.gateway.repo, directory: partners, period: '2028', supplied });
    expect(again.rosters.map((r) => [r.acoId, r.written])).toEqual([
      ['aco-sunrise', false],
      ['aco-riverside', false],
    ]);
    expect((await rosterGroup('aco-sunrise')).meta?.versionId).toBe('1');
    expect(changes(await rosterGroup('aco-sunrise'))).toEqual({ [id('bluecare')]: 'new', [id('ffs')]: 'new' });
  });

  it('second run after amended eligibility: new, dropped, changed and nochange', async () => {
    await ingestRows([
      // ffs joins Medicare Advantage from March: fewer aligned months → changed
      { ...people.ffs, record_action: 'amend', year_month: '2028-03', ma_contract_id: 'H7777' },
      // greenway moves to the partner MCO in every month → new
      ...MONTHS.map((m) => ({ ...people.greenway, record_action: 'amend', year_month: m, mc_plan_id: 'OH-BLUE-01' })),
      // bluecare becomes a partial dual → dropped
      ...MONTHS.map((m) => ({ ...people.bluecare, record_action: 'amend', year_month: m, dual_elgbl_cd: '01' })),
    ]);
    const supplied = await readSuppliedRoster(`${dir}/claims.csv`, gw.gateway.db, partners);
    const second = await runAlignment({ db: gw.gateway.db, repo: gw.gateway.repo, directory: partners, period: '2028', supplied });
    expect(second.rosters.find((r) => r.acoId === 'aco-sunrise')).toMatchObject({ written: true, changes: { new: 1, dropped: 1, changed: 1, nochange: 0 } });
    const sunrise = await rosterGroup('aco-sunrise');
    expect(changes(sunrise)).toEqual({ [id('greenway')]: 'new', [id('ffs')]: 'changed', [id('bluecare')]: 'dropped' });
    expect(sunrise.member?.find((m) => m.entity.reference === `Patient/${id('ffs')}`)?.period).toEqual({ start: '2028-01-01', end: '2028-02-29' });
    expect(sunrise.member?.find((m) => m.entity.reference === `Patient/${id('bluecare')}`)?.inactive).toBe(true);
    expect(sunrise.meta?.versionId).toBe('2');
    expect(changes(await rosterGroup('aco-riverside'))).toEqual({ [id('claims')]: 'new' });
  });

  it('the ACO finds its roster by identifier and reads explanations of its own members only', async () => {
    const sunrise = await demoToken(gw.url, 'sunrise-ehr', 'system/Group.rs system/Patient.rs');
    const as = { authorization: `Bearer ${sunrise}` };
    const found = await http('GET', `${gw.fhir}/Group?identifier=${encodeURIComponent(`${ROSTER_IDENTIFIER_SYSTEM}|aco-sunrise|2028`)}`, undefined, as);
    expect(found.status).toBe(200);
    expect(found.body.entry.map((e: { resource: Group }) => e.resource.id)).toEqual(['alignment-aco-sunrise-2028']);

    const mine = await http('GET', `${gw.fhir}/Patient/${id('ffs')}/$alignment?period=2028`, undefined, as);
    expect(mine.status).toBe(200);
    expect(mine.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
    const p = (name: string) => mine.body.parameter.filter((x: { name: string }) => x.name === name);
    expect(p('outcome')[0].valueCode).toBe('aligned');
    expect(p('alignment')[0].part).toContainEqual({ name: 'period', valuePeriod: { start: '2028-01-01', end: '2028-02-29' } });
    // Only its own evaluation: March failed for Medicare Advantage.
    expect(p('evaluation').map((e: { part: { name: string; valueReference?: { reference: string } }[] }) => e.part[0].valueReference?.reference)).toEqual(['Organization/aco-sunrise']);
    const failed = p('evaluation')[0].part.filter((x: { name: string }) => x.name === 'failed');
    expect(failed.map((f: { part: { valueCoding?: { code: string }; valueString?: string }[] }) => [f.part[0].valueCoding?.code, f.part[1].valueString])).toEqual(
      expect.arrayContaining([['no-medicare-advantage', '2028-03']]),
    );

    // Dropped from the roster, never aligned, aligned elsewhere: 404, as for a missing Patient.
    for (const who of ['bluecare', 'dsnp', 'claims']) {
      const r = await http('GET', `${gw.fhir}/Patient/${id(who)}/$alignment?period=2028`, undefined, as);
      expect(r.status).toBe(404);
      expect(r.body.resourceType).toBe('OperationOutcome');
    }
    expect((await http('GET', `${gw.fhir}/Patient/${randomUUID()}/$alignment`, undefined, as)).status).toBe(404);
    const noRun = await http('GET', `${gw.fhir}/Patient/${id('ffs')}/$alignment?period=2027`, undefined, as);
    expect([noRun.status, noRun.body.issue[0].code, noRun.body.issue[0].diagnostics]).toEqual([404, 'not-found', `No alignment decision for Patient/${id('ffs')} in 2027`]);
    expect((await http('GET', `${gw.fhir}/Patient/${id('ffs')}/$alignment?period=28`, undefined, as)).status).toBe(400);
    expect((await http('GET', `${gw.fhir}/Patient/${id('ffs')}/$alignment`)).status).toBe(401);
  });

  it('the Medicaid partner sees every ACO\'s evaluation, e.g. why a D-SNP member is not aligned', async () => {
    const sma = await demoToken(gw.url, 'sma-admin', 'system/*.cruds');
    const r = await http('GET', `${gw.fhir}/Patient/${id('dsnp')}/$alignment`, undefined, { authorization: `Bearer ${sma}` });
    expect(r.status).toBe(200);
    const params = r.body.parameter as { name: string; valueCode?: string; part?: { name: string; valueReference?: { reference: string }; part?: { valueCoding?: { code: string }; valueString?: string }[] }[] }[];
    expect(params.find((x) => x.name === 'outcome')?.valueCode).toBe('not-aligned');
    const evaluations = params.filter((x) => x.name === 'evaluation');
    expect(evaluations.map((e) => e.part![0].valueReference?.reference).sort()).toEqual(['Organization/aco-riverside', 'Organization/aco-sunrise']);
    const sunriseFailures = evaluations
      .find((e) => e.part![0].valueReference?.reference === 'Organization/aco-sunrise')!
      .part!.filter((x) => x.name === 'failed')
      .map((f) => [f.part![0].valueCoding?.code, f.part![2].valueString]);
    // Only January to March were ingested: the other months have no eligibility record.
    expect(sunriseFailures).toEqual([
      ['enrollment-data', 'no eligibility record for the month'],
      ['original-medicare-ab', 'no Original Medicare (FFS) entitlement'],
      ['no-medicare-advantage', 'Medicare Advantage contract H1234 (D-SNP)'],
    ]);
    const months = (code: string) =>
      evaluations[1].part!.filter((x) => x.name === 'failed').find((f) => f.part![0].valueCoding?.code === code)?.part![1].valueString;
    expect(months('enrollment-data')).toBe('2028-04..2028-12');
    expect(months('no-medicare-advantage')).toBe('2028-01..2028-03');
  });

  it('an MCO reads the explanation of its own members (Coverage payor), not of others', async () => {
    const bluecare = await demoToken(gw.url, 'bluecare-care-mgmt', 'system/Patient.rs');
    const as = { authorization: `Bearer ${bluecare}` };
    const r = await http('GET', `${gw.fhir}/Patient/${id('claims')}/$alignment`, undefined, as);
    expect(r.status).toBe(200);
    // The Medicaid partner's view names the ACO the person is claims-aligned to.
    const alignment = r.body.parameter.find((x: { name: string }) => x.name === 'alignment');
    expect(alignment.part.slice(0, 2)).toEqual([
      { name: 'aco', valueReference: { reference: 'Organization/aco-riverside' } },
      { name: 'pathway', valueCoding: { system: 'https://lead-gateway.example.org/fhir/CodeSystem/alignment-pathway', code: 'claims' } },
    ]);
    // ffs has fee-for-service Medicaid: not a BlueCare member.
    expect((await http('GET', `${gw.fhir}/Patient/${id('ffs')}/$alignment`, undefined, as)).status).toBe(404);
  });

  it('the ACO exports its roster with Group/[id]/$export: current members only, never the dropped', async () => {
    const sunrise = await demoToken(gw.url, 'sunrise-ehr', 'system/Group.rs system/Patient.rs');
    const manifest = await runExport(`${gw.fhir}/Group/alignment-aco-sunrise-2028/$export?_type=Patient`, sunrise);
    const files = await downloadAll(manifest, sunrise);
    expect((files.Patient ?? []).map((p: { id: string }) => p.id).sort()).toEqual([id('ffs'), id('greenway')].sort());
  });

  it('`lead-gateway align` runs the same from the command line; a bad roster file changes nothing', async () => {
    const schema = (await gw.gateway.db.query<{ s: string }>('SELECT current_schema() AS s')).rows[0].s;
    const env = {
      PATH: process.env.PATH ?? '',
      LOG_LEVEL: 'silent',
      DATABASE_URL: `${TEST_DATABASE_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`,
      PARTNERS_FILE: 'config/partners.json',
      GATEWAY_KEYS_FILE: '',
      DATA_DIR: dir,
    };
    const cli = (...args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
        execFile(process.execPath, ['bin/lead-gateway.js', 'align', ...args], { env }, (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        ),
      );
    writeFileSync(`${dir}/bad.csv`, `aco_id,alignment_type,start,mbi\naco-nowhere,claims,2028-01-01,${people.claims.mbi}\naco-riverside,sometimes,2028-13-01,1SA0A00AA99\n`);
    const bad = await cli('--period', '2028', '--roster', `${dir}/bad.csv`);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/line 2, aco_id: not an ACO/);
    expect(bad.stderr).toMatch(/line 3, alignment_type: must be claims or voluntary; line 3, start: must be a date/);
    expect(bad.stderr).toMatch(/line 3, mbi: no Patient with this MBI/);
    expect((await rosterGroup('aco-sunrise')).meta?.versionId).toBe('2');

    const ok = await cli('--period', '2028', '--roster', `${dir}/claims.csv`);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    const summary = JSON.parse(ok.stdout);
    expect(summary).toMatchObject({ period: '2028', beneficiaries: 5, aligned: 3 });
    // Same data as the last run: no roster changes, no new versions; counts only, no identifiers.
    expect(summary.rosters.map((r: { acoId: string; written: boolean }) => [r.acoId, r.written])).toEqual([
      ['aco-sunrise', false],
      ['aco-riverside', false],
    ]);
    expect(ok.stdout).not.toContain(people.claims.mbi!);
    expect(ok.stdout).not.toContain(id('ffs'));
    expect((await http('GET', `${gw.fhir}/metadata`)).body.rest[0].resource.find((r: { type: string }) => r.type === 'Patient').operation).toContainEqual(
      expect.objectContaining({ name: 'alignment' }),
    );
  });

  it('a deleted Patient is a 404 (not a 410 that would confirm it existed)', async () => {
    const sma = await demoToken(gw.url, 'sma-admin', 'system/*.cruds');
    const sunrise = await demoToken(gw.url, 'sunrise-ehr', 'system/Patient.rs');
    expect((await http('DELETE', `${gw.fhir}/Patient/${id('dsnp')}`, undefined, { authorization: `Bearer ${sma}` })).status).toBeLessThan(300);
    for (const t of [sma, sunrise]) {
      const r = await http('GET', `${gw.fhir}/Patient/${id('dsnp')}/$alignment`, undefined, { authorization: `Bearer ${t}` });
      expect([r.status, r.body.resourceType]).toEqual([404, 'OperationOutcome']);
    }
  });

  it('a scope without Patient read gets 403', async () => {
    const sunrise = await demoToken(gw.url, 'sunrise-ehr', 'system/Group.rs');
    expect((await http('GET', `${gw.fhir}/Patient/${id('ffs')}/$alignment`, undefined, { authorization: `Bearer ${sunrise}` })).status).toBe(403);
  });
});
