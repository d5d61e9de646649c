// Routing rules as a table: no database, no network.
import { readFileSync } from 'node:fs';
import { parsePartners } from '../../../src/config/partners.js';
import { dataClassOf, loadDataClassRules, sourceRecordOf } from '../../../src/exchange/data-classes.js';
import { parseRoster } from '../../../src/exchange/roster.js';
import { decideRoutes, type Beneficiary } from '../../../src/exchange/routing-rules.js';
import { nextDelay } from '../../../src/exchange/backoff.js';
import { classifyFailure, parseRetryAfter } from '../../../src/exchange/errors/delivery-error.js';
import { PartnerTokenError } from '../../../src/auth/outbound-client.js';

const directory = parsePartners(JSON.parse(readFileSync('config/partners.json', 'utf8')));
const rules = loadDataClassRules('config/exchange/data-classes.json');
const ON = '2028-06-01'; // the demo agreements start in 2028

const person = (acos: string[], related: string[] = []): Beneficiary => ({ acos, relatedTo: (org) => related.includes(org) });
const src = (org: string, layout: string) => ({ system: `https://lead-gateway.example.org/fhir/sid/source/${org}/${layout}`, value: 'r1' });

describe('data classes', () => {
  it.each([
    [{ resourceType: 'QuestionnaireResponse', identifier: src('mco-bluecare', 'hcbs-assessment') }, 'hcbs-assessment'],
    [{ resourceType: 'Observation', identifier: [src('mco-bluecare', 'hcbs-assessment')] }, 'hcbs-assessment'],
    [{ resourceType: 'MedicationDispense', identifier: [src('mco-bluecare', 'pharmacy-claims')] }, 'medications'],
    [{ resourceType: 'Observation', identifier: [src('mco-bluecare', 'medication-risk')] }, 'medications'],
    [{ resourceType: 'RiskAssessment', identifier: [src('mco-bluecare', 'falls-screen')] }, 'falls-risk'],
    [{ resourceType: 'Coverage', identifier: [src('sma-state', 'eligibility-month')] }, 'eligibility'],
    [{ resourceType: 'QuestionnaireResponse' }, 'hcbs-assessment'],
    [{ resourceType: 'Condition' }, 'conditions'],
    [{ resourceType: 'Observation' }, undefined],
    [{ resourceType: 'Patient', identifier: [src('mco-bluecare', 'hcbs-assessment')] }, undefined],
    [{ resourceType: 'Provenance' }, undefined],
  ])('%j → %s', (resource, dataClass) => {
    expect(dataClassOf(rules, resource as never)).toBe(dataClass);
  });

  it('reads the sender from the source-record identifier', () => {
    expect(sourceRecordOf({ resourceType: 'Observation', identifier: [src('mco-bluecare', 'falls-screen')] } as never)).toEqual({ sourceOrg: 'mco-bluecare', layout: 'falls-screen' });
  });
});

describe('routes', () => {
  it.each([
    ['MCO assessment, person aligned to the ACO of the agreement', 'mco-bluecare', 'hcbs-assessment', person(['aco-sunrise']), ['aco-sunrise']],
    ['aligned through a relationship (Patient reference or roster Group)', 'mco-bluecare', 'falls-risk', person([], ['aco-sunrise']), ['aco-sunrise']],
    ['data class outside the agreement', 'mco-bluecare', 'eligibility', person(['aco-sunrise']), []],
    ['person not aligned to any ACO', 'mco-bluecare', 'hcbs-assessment', person([]), []],
    ['aligned to an ACO without an agreement with the source', 'mco-bluecare', 'hcbs-assessment', person(['aco-riverside']), []],
    ['SMA eligibility to the aligned ACO', 'sma-state', 'eligibility', person(['aco-sunrise']), ['aco-sunrise']],
    ['ACO data back to the Medicaid partners that know the person', 'aco-sunrise', 'hcbs-assessment', person([], ['mco-bluecare', 'sma-state']), ['mco-bluecare', 'sma-state']],
    ['ACO data, MCO without a relationship', 'aco-sunrise', 'hcbs-assessment', person([], ['sma-state']), ['sma-state']],
    ['unknown source', 'nobody', 'hcbs-assessment', person(['aco-sunrise']), []],
  ])('%s', async (_name, sourceOrg, dataClass, beneficiary, expected) => {
    const routes = await decideRoutes(directory, { sourceOrg, dataClass, date: ON, beneficiary });
    expect(routes.map((r) => r.destination).sort()).toEqual([...expected].sort());
  });

  it('carries the agreement and its purpose of use', async () => {
    const [r] = await decideRoutes(directory, { sourceOrg: 'mco-bluecare', dataClass: 'medications', date: ON, beneficiary: person(['aco-sunrise']) });
    expect(r).toEqual({ destination: 'aco-sunrise', agreementId: 'agr-sunrise-bluecare', purposeOfUse: 'TREAT' });
  });

  it('routes nothing outside an agreement period', async () => {
    expect(await decideRoutes(directory, { sourceOrg: 'mco-bluecare', dataClass: 'medications', date: '2027-12-31', beneficiary: person(['aco-sunrise']) })).toEqual([]);
    expect(await decideRoutes(directory, { sourceOrg: 'sma-state', dataClass: 'eligibility', date: '2031-01-01', beneficiary: person(['aco-sunrise']) })).toEqual([]);
  });

  it('never routes back to the source', async () => {
    const d = parsePartners({
      organizations: [
        { id: 'a', type: 'ACO', name: 'A', clients: [], endpoint: { fhirBaseUrl: 'http://x/fhir', tokenUrl: 'http://x/t', clientId: 'g', scope: 's' } },
        { id: 'm', type: 'MCO', name: 'M', clients: [], endpoint: { fhirBaseUrl: 'http://y/fhir', tokenUrl: 'http://y/t', clientId: 'g', scope: 's' } },
      ],
      agreements: [{ id: 'x', aco: 'a', medicaidPartner: 'm', dataClasses: ['c'], purposeOfUse: 'TREAT', period: { start: '2020-01-01' } }],
    });
    const routes = await decideRoutes(d, { sourceOrg: 'a', dataClass: 'c', date: ON, beneficiary: person(['a'], ['m', 'a']) });
    expect(routes.map((r) => r.destination)).toEqual(['m']);
  });
});

describe('roster file', () => {
  it('aligns by any identifier of the person', () => {
    const roster = parseRoster({ attributions: [{ aco: 'aco-sunrise', identifier: { system: 's', value: '1' } }] });
    expect(roster.acosFor([{ system: 'x', value: '9' }, { system: 's', value: '1' }])).toEqual(['aco-sunrise']);
    expect(roster.acosFor([{ system: 's', value: '2' }])).toEqual([]);
    expect(() => parseRoster({ attributions: [{ aco: 'a' }] })).toThrow(/attributions\/0/);
  });
});

describe('retries', () => {
  const o = { baseMs: 1000, maxMs: 60_000, retryAfterMaxMs: 30_000 };
  it('backs off exponentially with jitter between half and all of the step', () => {
    expect(nextDelay(1, undefined, { ...o, random: () => 0 })).toBe(500);
    expect(nextDelay(1, undefined, { ...o, random: () => 1 })).toBe(1000);
    expect(nextDelay(4, undefined, { ...o, random: () => 1 })).toBe(8000);
    expect(nextDelay(30, undefined, { ...o, random: () => 1 })).toBe(60_000);
  });
  it('honours Retry-After, capped', () => {
    expect(nextDelay(1, { retryAfterMs: 2000 }, o)).toBe(2000);
    expect(nextDelay(1, { retryAfterMs: 999_999 }, o)).toBe(30_000);
    expect(parseRetryAfter('120')).toBe(120_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('Wed, 21 Oct 2015 07:27:00 GMT'))).toBe(60_000);
  });
  it.each([
    [400, false],
    [403, false],
    [404, false],
    [422, false],
    [409, true],
    [429, true],
    [500, true],
    [503, true],
  ])('HTTP %i retryable: %s', (status, retryable) => {
    expect(classifyFailure({ response: { status, data: {} }, config: { headers: new Headers() } }).retryable).toBe(retryable);
  });
  it('reads Retry-After on 429 and the OperationOutcome of a rejection', () => {
    const oo = { resourceType: 'OperationOutcome', issue: [] };
    const f = classifyFailure({ response: { status: 429, data: oo }, config: { headers: new Headers({ 'retry-after': '7' }) } });
    expect(f).toMatchObject({ retryable: true, retryAfterMs: 7000, outcome: oo, httpStatus: 429 });
  });
  it('retries token failures, timeouts and network errors', () => {
    expect(classifyFailure(new PartnerTokenError('x', 500)).retryable).toBe(true);
    expect(classifyFailure(Object.assign(new Error('t'), { name: 'TimeoutError' })).retryable).toBe(true);
    expect(classifyFailure(Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } })).message).toMatch(/ECONNREFUSED/);
  });
});
