// The decision point as a table: every row of the default matrix (consent-security.md §2.6),
// each Consent provision kind, deny-overrides, fail-closed. Pure: no store.
import type { Consent, ConsentProvision, Resource } from '@medplum/fhirtypes';
import { loadPolicy } from '../../../src/config/policy.js';
import type { OrganizationType } from '../../../src/config/partners.js';
import { inForce } from '../../../src/consent/consent-evaluation.js';
import { decide, type DecisionInput } from '../../../src/consent/decision-point.js';
import type { Labels } from '../../../src/consent/labeler.js';
import { ACT_CODE, ACT_REASON, CONFIDENTIALITY, type ConfidentialityCode } from '../../../src/consent/vocabulary.js';

const policy = loadPolicy();
const NOW = new Date('2027-06-01T12:00:00Z');
const ICD = 'http://hl7.org/fhir/sid/icd-10-cm';

const ORG: Record<OrganizationType, string> = { SMA: 'sma-state', MCO: 'mco-bluecare', HIE: 'hie-metro', ACO: 'aco-sunrise' };

const condition = (code = 'I10', extra: Partial<Resource> = {}): Resource =>
  ({ resourceType: 'Condition', id: 'c1', subject: { reference: 'Patient/p1' }, recordedDate: '2027-01-15', code: { coding: [{ system: ICD, code }] }, ...extra }) as Resource;

const labels = (confidentiality: ConfidentialityCode, ...codes: string[]): Labels => ({ confidentiality, actCodes: new Set(codes) });
const N = labels('N');
const PART2 = labels('R', 'SUD', 'OPIOIDUD', '42CFRPart2');

function input(over: Partial<DecisionInput> & { type?: OrganizationType; pou?: string; consentList?: Consent[] } = {}): DecisionInput {
  const type = over.type ?? 'MCO';
  return {
    recipient: { organizationId: ORG[type], organizationType: type, purposeOfUse: over.pou ?? 'HPAYMT', clientId: 'c' },
    resource: over.resource ?? condition(),
    labels: over.labels ?? N,
    patientIds: over.patientIds ?? ['p1'],
    related: over.related ?? (() => true),
    consents: over.consents ?? (() => over.consentList ?? []),
    policy: over.policy ?? policy,
    now: NOW,
  };
}

const consent = (provision: ConsentProvision, extra: Partial<Consent> = {}): Consent => ({
  resourceType: 'Consent',
  id: extra.id ?? 'k1',
  status: 'active',
  scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
  category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
  patient: { reference: 'Patient/p1' },
  policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentpolicycodes', code: 'hipaa-auth' }] },
  provision,
  ...extra,
});
const recipientActor = (org: string) => ({
  role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] },
  reference: { reference: `Organization/${org}` },
});
const purpose = (code: string) => ({ system: ACT_REASON, code });
/** A Part 2 TPO consent: base deny, permit Part 2 data to `org` for `pou`. */
const part2Consent = (org: string, pou = 'HPAYMT', extra: Partial<Consent> = {}): Consent =>
  consent({ type: 'deny', provision: [{ type: 'permit', actor: [recipientActor(org)], purpose: [purpose(pou)], securityLabel: [{ system: ACT_CODE, code: '42CFRPart2' }] }] }, extra);
const optOut = (extra: Partial<Consent> = {}): Consent => consent({ type: 'deny' }, { id: 'optout', ...extra });

const effect = (i: DecisionInput): string => decide(i).effect;

describe('default policy matrix (§2.6)', () => {
  it.each<[string, Partial<Parameters<typeof input>[0]>, 'permit' | 'deny']>([
    ['N to a treating HIE (TREAT)', { type: 'HIE', pou: 'TREAT' }, 'permit'],
    ['N to an MCO for payment', { type: 'MCO', pou: 'HPAYMT' }, 'permit'],
    ['N to the SMA for operations', { type: 'SMA', pou: 'HOPERAT' }, 'permit'],
    ['N to an ACO for care management', { type: 'ACO', pou: 'CAREMGT' }, 'permit'],
    ['N for public health', { type: 'SMA', pou: 'PUBHLTH' }, 'permit'],
    ['N for research without authorization', { type: 'SMA', pou: 'HRESCH' }, 'deny'],
    ['N for marketing', { type: 'MCO', pou: 'HMARKT' }, 'deny'],
    ['N without a relationship', { type: 'MCO', related: () => false }, 'deny'],
    ['an unknown purpose of use', { pou: 'NOTAPOU' }, 'deny'],
    ['Part 2 to a treating HIE without consent', { type: 'HIE', pou: 'TREAT', labels: PART2 }, 'deny'],
    ['Part 2 to an MCO without consent', { labels: PART2 }, 'deny'],
    ['Part 2 to an ACO without consent (425.708(c))', { type: 'ACO', pou: 'CAREMGT', labels: PART2 }, 'deny'],
    ['Part 2 to the SMA without consent', { type: 'SMA', pou: 'HOPERAT', labels: PART2 }, 'deny'],
    ['Part 2 in a medical emergency to a treating HIE (2.51)', { type: 'HIE', pou: 'ETREAT', labels: PART2 }, 'permit'],
    ['Part 2 in a "medical emergency" asserted by an MCO', { type: 'MCO', pou: 'ETREAT', labels: PART2 }, 'deny'],
    ['Part 2 for public health (de-identified only)', { type: 'SMA', pou: 'PUBHLTH', labels: PART2 }, 'deny'],
    ['HIV to a treating HIE (OH treatment exception)', { type: 'HIE', pou: 'TREAT', labels: labels('R', 'HIV') }, 'permit'],
    ['HIV to an MCO for payment', { labels: labels('R', 'HIV') }, 'deny'],
    ['mental health to an ACO for operations', { type: 'ACO', pou: 'HOPERAT', labels: labels('R', 'MH') }, 'deny'],
    ['reproductive health to a treating HIE (no exception in OH)', { type: 'HIE', pou: 'TREAT', labels: labels('R', 'SEX') }, 'deny'],
    ['SDV to an MCO', { labels: labels('R', 'SDV') }, 'deny'],
    ['V data to anyone', { type: 'SMA', pou: 'HOPERAT', labels: labels('V') }, 'deny'],
    ['psychotherapy notes to a treating HIE', { type: 'HIE', pou: 'TREAT', labels: labels('R', 'PSYTHPN') }, 'deny'],
    ['self-pay restricted data to an MCO for payment', { labels: labels('N', 'HIPAASelfPay') }, 'deny'],
    ['self-pay restricted data to a treating HIE', { type: 'HIE', pou: 'TREAT', labels: labels('N', 'HIPAASelfPay') }, 'permit'],
    ['an opted-out person to a treating HIE', { type: 'HIE', pou: 'TREAT', consentList: [optOut()] }, 'deny'],
    ['an opted-out person to the SMA', { type: 'SMA', pou: 'HOPERAT', consentList: [optOut()] }, 'deny'],
    ['an AuditEvent to an MCO', { resource: { resourceType: 'AuditEvent', id: 'a' } as Resource }, 'deny'],
    ['an AuditEvent to the SMA', { type: 'SMA', pou: 'HOPERAT', resource: { resourceType: 'AuditEvent', id: 'a' } as Resource, patientIds: [] }, 'permit'],
    ['a Consent to an ACO', { type: 'ACO', pou: 'TREAT', resource: consent({ type: 'deny' }) }, 'deny'],
    ['an opt-out Consent to the SMA (the directive does not hide itself)', { type: 'SMA', pou: 'HOPERAT', resource: consent({ type: 'deny' }), consentList: [optOut()] }, 'permit'],
  ])('%s → %s', (_name, over, expected) => {
    expect(effect(input(over))).toBe(expected);
  });
});

describe('Part 2 consent', () => {
  it('permits Part 2 data to the recipient the consent names, with NORDSCLCD and the 2.32 notice', () => {
    const d = decide(input({ labels: PART2, consentList: [part2Consent('mco-bluecare')] }));
    expect(d.effect).toBe('permit');
    expect(d.obligations?.addLabels).toEqual(expect.arrayContaining([{ system: ACT_CODE, code: 'NORDSCLCD' }, { system: ACT_CODE, code: '42CFRPart2' }]));
    expect(d.obligations?.notice).toMatch(/42 CFR part 2/);
    expect(d.basedOn).toContain('Consent/k1');
  });

  it('denies Part 2 data when the consent names a different recipient', () => {
    expect(effect(input({ labels: PART2, consentList: [part2Consent('mco-greenway')] }))).toBe('deny');
  });

  it('denies Part 2 data when the consent covers another purpose (TREAT consent, HPAYMT request)', () => {
    expect(effect(input({ labels: PART2, consentList: [part2Consent('mco-bluecare', 'TREAT')] }))).toBe('deny');
  });

  it('covers a narrower purpose under the consented one (HPAYMT consent, ELIGVER request)', () => {
    expect(effect(input({ pou: 'ELIGVER', labels: PART2, consentList: [part2Consent('mco-bluecare', 'HPAYMT')] }))).toBe('permit');
  });

  it('lets a Part 2 consent open state-protected data it covers only when its labels cover them', () => {
    // The Part 2 consent names 42CFRPart2: HIV data on the same record stays behind it.
    expect(effect(input({ labels: labels('R', 'HIV'), consentList: [part2Consent('mco-bluecare')] }))).toBe('deny');
  });
});

describe('consent provisions', () => {
  const permitMco = (p: Partial<ConsentProvision>): Consent =>
    consent({ type: 'deny', provision: [{ type: 'permit', actor: [recipientActor('mco-bluecare')], ...p }] });

  it('actor: an IRCP organization matches; another organization does not', () => {
    expect(effect(input({ labels: labels('R', 'HIV'), consentList: [permitMco({})] }))).toBe('permit');
    expect(effect(input({ type: 'ACO', pou: 'CAREMGT', labels: labels('R', 'HIV'), consentList: [permitMco({})] }))).toBe('deny');
  });

  it('actor: an informant (INF) role never widens a permit', () => {
    const inf = consent({
      type: 'deny',
      provision: [{ type: 'permit', actor: [{ ...recipientActor('mco-bluecare'), role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'INF' }] } }] }],
    });
    expect(effect(input({ labels: labels('R', 'HIV'), consentList: [inf] }))).toBe('deny');
  });

  it('purpose: a permit limited to TREAT does not cover HPAYMT', () => {
    expect(effect(input({ labels: labels('R', 'HIV'), consentList: [permitMco({ purpose: [purpose('TREAT')] })] }))).toBe('deny');
  });

  it('action: access/disclose match; collect does not; an unknown action system never permits', () => {
    const act = (system: string, code: string) => permitMco({ action: [{ coding: [{ system, code }] }] });
    const CA = 'http://terminology.hl7.org/CodeSystem/consentaction';
    expect(effect(input({ labels: labels('R', 'HIV'), consentList: [act(CA, 'disclose')] }))).toBe('permit');
    expect(effect(input({ labels: labels('R', 'HIV'), consentList: [act(CA, 'collect')] }))).toBe('deny');
    expect(effect(input({ labels: labels('R', 'HIV'), consentList: [act('http://example.org/x', 'disclose')] }))).toBe('deny');
  });

  it('securityLabel: confidentiality is a high-water mark, sensitivity codes subsume their children', () => {
    const byConf = permitMco({ securityLabel: [{ system: CONFIDENTIALITY, code: 'R' }] });
    expect(effect(input({ labels: PART2, consentList: [byConf] }))).toBe('permit');
    const bySud = permitMco({ securityLabel: [{ system: ACT_CODE, code: 'SUD' }] });
    expect(effect(input({ labels: labels('R', 'OPIOIDUD', '42CFRPart2'), consentList: [bySud] }))).toBe('permit');
    const byHiv = permitMco({ securityLabel: [{ system: ACT_CODE, code: 'HIV' }] });
    expect(effect(input({ labels: PART2, consentList: [byHiv] }))).toBe('deny');
  });

  it('class: a permit for Observation does not open a Condition', () => {
    const obsOnly = permitMco({ class: [{ system: 'http://hl7.org/fhir/resource-types', code: 'Observation' }] });
    expect(effect(input({ labels: labels('R', 'HIV'), consentList: [obsOnly] }))).toBe('deny');
    const condOnly = permitMco({ class: [{ system: 'http://hl7.org/fhir/resource-types', code: 'Condition' }] });
    expect(effect(input({ labels: labels('R', 'HIV'), consentList: [condOnly] }))).toBe('permit');
  });

  it('code: a deny for F11.20 withholds a normal-labelled record carrying it', () => {
    const restrict = consent({ type: 'permit', provision: [{ type: 'deny', code: [{ coding: [{ system: ICD, code: 'F11.20' }] }] }] });
    expect(effect(input({ resource: condition('F1120'), consentList: [restrict] }))).toBe('deny');
    expect(effect(input({ resource: condition('I10'), consentList: [restrict] }))).toBe('permit');
  });

  it('dataPeriod: a deny for 2026 data withholds 2026 records only; a record without a date counts as covered', () => {
    const restrict = consent({ type: 'permit', provision: [{ type: 'deny', dataPeriod: { start: '2026-01-01', end: '2026-12-31' } }] });
    expect(effect(input({ resource: condition('I10', { recordedDate: '2026-05-05' } as Partial<Resource>), consentList: [restrict] }))).toBe('deny');
    expect(effect(input({ resource: condition('I10', { recordedDate: '2027-01-15' } as Partial<Resource>), consentList: [restrict] }))).toBe('permit');
    const undated = { resourceType: 'Condition', id: 'c9', subject: { reference: 'Patient/p1' } } as Resource;
    expect(effect(input({ resource: undated, consentList: [restrict] }))).toBe('deny');
  });

  it('data: a deny naming one resource withholds that resource only', () => {
    const restrict = consent({ type: 'permit', provision: [{ type: 'deny', data: [{ meaning: 'instance', reference: { reference: 'Condition/c1' } }] }] });
    expect(effect(input({ consentList: [restrict] }))).toBe('deny');
    expect(effect(input({ resource: condition('I10', { id: 'c2' }), consentList: [restrict] }))).toBe('permit');
  });

  it('nests deeper than one level and honours each nested type', () => {
    // deny all → permit bluecare → deny HIV data for bluecare
    const nested = consent({
      type: 'deny',
      provision: [{ type: 'permit', actor: [recipientActor('mco-bluecare')], provision: [{ type: 'deny', securityLabel: [{ system: ACT_CODE, code: 'HIV' }] }] }],
    });
    expect(effect(input({ labels: labels('R', 'MH'), consentList: [nested] }))).toBe('permit');
    expect(effect(input({ labels: labels('R', 'HIV'), consentList: [nested] }))).toBe('deny');
  });

  it('treats a deny nested under a deny as a deny (LEAP flips it to permit)', () => {
    const dd = consent({ type: 'deny', provision: [{ type: 'deny', actor: [recipientActor('mco-bluecare')] }] });
    expect(effect(input({ consentList: [dd] }))).toBe('deny');
  });

  it('treats a nested provision without a type as a deny', () => {
    const untyped = consent({ type: 'deny', provision: [{ actor: [recipientActor('mco-bluecare')] }] });
    expect(effect(input({ labels: labels('R', 'HIV'), consentList: [untyped] }))).toBe('deny');
  });
});

describe('which consents count', () => {
  it('deny-overrides: an older opt-out beats a newer permit', () => {
    const older = optOut({ dateTime: '2020-01-01' });
    const newer = part2Consent('mco-bluecare', 'HPAYMT', { id: 'k2', dateTime: '2027-01-01' });
    expect(effect(input({ labels: PART2, consentList: [older, newer] }))).toBe('deny');
    expect(decide(input({ labels: PART2, consentList: [older, newer] })).basedOn).toEqual(['Consent/optout']);
  });

  it('an expired consent no longer permits', () => {
    const expired = part2Consent('mco-bluecare', 'HPAYMT');
    expired.provision!.period = { start: '2025-01-01', end: '2026-12-31' };
    expect(inForce([expired], NOW)).toEqual([]);
    expect(effect(input({ labels: PART2, consents: () => inForce([expired], NOW) }))).toBe('deny');
  });

  it.each([
    ['a proposed consent', { status: 'proposed' }],
    ['an entered-in-error consent', { status: 'entered-in-error' }],
    ['a research-scope consent', { scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'research' }] } }],
  ])('ignores %s', (_n, extra) => {
    expect(inForce([part2Consent('mco-bluecare', 'HPAYMT', extra as Partial<Consent>)], NOW)).toEqual([]);
  });

  it('accepts patient-privacy in category (R5 / LEAP style)', () => {
    const c = part2Consent('mco-bluecare', 'HPAYMT', {
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'treatment' }] },
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] }],
    });
    expect(inForce([c], NOW)).toHaveLength(1);
  });

  it('a provision period in the past does not apply', () => {
    const c = consent({ type: 'deny', provision: [{ type: 'permit', period: { end: '2026-12-31' }, actor: [recipientActor('mco-bluecare')], securityLabel: [{ system: ACT_CODE, code: '42CFRPart2' }] }] });
    expect(effect(input({ labels: PART2, consentList: [c] }))).toBe('deny');
  });

  it('a consent without a base decision decides nothing', () => {
    const c = consent({}, { policyRule: undefined, provision: undefined });
    expect(effect(input({ consentList: [c] }))).toBe('permit'); // default policy: N for payment
    expect(effect(input({ labels: PART2, consentList: [c] }))).toBe('deny');
  });

  it('a resource about two people needs every one of them', () => {
    const consents = (p: string) => (p === 'p2' ? [optOut({ patient: { reference: 'Patient/p2' } })] : []);
    expect(effect(input({ patientIds: ['p1', 'p2'], consents }))).toBe('deny');
    expect(effect(input({ patientIds: ['p1', 'p2'], related: (p) => p === 'p1' }))).toBe('deny');
  });
});

describe('fail closed', () => {
  it('denies when a consent lookup throws', () => {
    expect(effect(input({ consents: () => { throw new Error('store down'); } }))).toBe('deny');
  });

  it('denies when the relationship check throws', () => {
    expect(effect(input({ related: () => { throw new Error('boom'); } }))).toBe('deny');
  });

  it('denies when the policy is malformed', () => {
    expect(effect(input({ policy: { ...policy, states: {} } }))).toBe('deny');
  });
});
