// The partner directory: the shipped demo file is valid, and a bad file is refused with a
// message naming the JSON path.
import { readFileSync } from 'node:fs';
import { loadPartners, parsePartners, purposeOfUseOf, type PartnersFile } from '../../../src/config/partners.js';
import { partnerResources, toEndpoint, toOrganization } from '../../../src/config/partner-resources.js';

const DEMO = new URL('../../../config/partners.json', import.meta.url).pathname;
const demo = (): PartnersFile => JSON.parse(readFileSync(DEMO, 'utf8')) as PartnersFile;

describe('partner directory', () => {
  it('loads the demo directory with every organization type and its agreements', () => {
    const dir = loadPartners(DEMO);
    expect(dir.organizations.map((o) => o.id)).toEqual([
      'sma-state',
      'mco-bluecare',
      'mco-greenway',
      'hie-metro',
      'aco-sunrise',
      'aco-riverside',
    ]);
    expect(dir.findClient('sma-admin')?.organization.type).toBe('SMA');
    expect(dir.findClient('sma-admin')?.client.scopes).toEqual(['system/*.cruds']);
    expect(dir.findClient('nobody')).toBeUndefined();
    expect(dir.findOrganization('aco-sunrise')?.name).toBe('Sunrise ACO');
    expect(dir.agreements.length).toBeGreaterThanOrEqual(2);
    for (const org of dir.organizations) expect(new URL(org.endpoint!.fhirBaseUrl).hostname).toBe('127.0.0.1');
  });

  it('ships a demo private key for every demo client, matching its registered public key', () => {
    for (const org of loadPartners(DEMO).organizations) {
      for (const c of org.clients) {
        const priv = JSON.parse(readFileSync(new URL(`../../../config/demo/${c.clientId}.private.jwks.json`, import.meta.url), 'utf8'));
        expect(priv.keys[0].kid).toBe(c.jwks!.keys[0]!.kid);
        expect(c.jwks!.keys[0]).not.toHaveProperty('d');
      }
    }
  });

  it('defaults the purpose of use by organization type', () => {
    const dir = parsePartners({
      organizations: [{ id: 'm', type: 'MCO', name: 'M', clients: [{ clientId: 'c', jwksUri: 'https://m.example.org/jwks', scopes: ['system/*.rs'] }] }],
      agreements: [],
    });
    expect(purposeOfUseOf(dir.findClient('c')!)).toBe('HPAYMT');
  });

  it.each<[string, (f: PartnersFile) => void, string]>([
    ['a bad organization type', (f) => ((f.organizations[1] as { type: string }).type = 'PLAN'), '/organizations/1/type must be equal to one of the allowed values (SMA, MCO, HIE, ACO)'],
    ['a missing name', (f) => delete (f.organizations[2] as Partial<{ name: string }>).name, "/organizations/2 must have required property 'name'"],
    ['an unknown property', (f) => ((f.organizations[0] as unknown as Record<string, unknown>).colour = 'red'), '/organizations/0 must NOT have additional properties "colour"'],
    ['a scope with a ?param= constraint', (f) => (f.organizations[0]!.clients[0]!.scopes = ['system/Observation.rs?category=x']), '/organizations/0/clients/0/scopes/0 must match pattern'],
    ['both jwks and jwksUri', (f) => (f.organizations[0]!.clients[0]!.jwksUri = 'https://x.example.org/jwks'), '/organizations/0/clients/0 must match exactly one schema in oneOf'],
    ['a private key in a registered JWKS', (f) => ((f.organizations[0]!.clients[0]!.jwks!.keys[0] as Record<string, unknown>).d = 'AAAA'), '/organizations/0/clients/0/jwks/keys/0 must NOT be valid'],
    ['a plain-http jwksUri off loopback', (f) => { const c = f.organizations[0]!.clients[0]!; delete c.jwks; c.jwksUri = 'http://partner.example.org/jwks'; }, '/organizations/0/clients/0/jwksUri must match pattern'],
    ['a duplicate client id', (f) => (f.organizations[1]!.clients[0]!.clientId = 'sma-admin'), '/organizations/1/clients/0/clientId "sma-admin" is not unique'],
    ['a duplicate organization id', (f) => (f.organizations[2]!.id = 'mco-bluecare'), '/organizations/2/id "mco-bluecare" is not unique'],
    ['an agreement whose aco is not an ACO', (f) => (f.agreements[0]!.aco = 'mco-bluecare'), '/agreements/0/aco "mco-bluecare" is not an ACO organization'],
    ['an agreement with an unknown partner', (f) => (f.agreements[0]!.medicaidPartner = 'mco-nowhere'), '/agreements/0/medicaidPartner "mco-nowhere" is not an SMA, MCO or HIE organization'],
    ['a bad agreement date', (f) => (f.agreements[0]!.period.start = '2028-13-01'), '/agreements/0/period/start must match format "date"'],
  ])('refuses %s, naming the path', (_name, spoil, message) => {
    const file = demo();
    spoil(file);
    expect(() => parsePartners(file, 'partners file x.json')).toThrow(message);
  });

  it('refuses a file that is not JSON, naming the file', () => {
    expect(() => loadPartners(new URL('../../../package-lock.json', import.meta.url).pathname + '.missing')).toThrow(
      /Invalid partners file .*package-lock\.json\.missing/,
    );
  });
});

describe('partner directory as FHIR resources', () => {
  const dir = loadPartners(DEMO);

  it('maps an organization to an R4 Organization with the organization id', () => {
    const org = toOrganization(dir.findOrganization('aco-sunrise')!);
    expect(org).toMatchObject({
      resourceType: 'Organization',
      id: 'aco-sunrise',
      name: 'Sunrise ACO',
      active: true,
      endpoint: [{ reference: 'Endpoint/aco-sunrise' }],
    });
    expect(org.type![0]!.coding!.map((c) => c.code)).toEqual(['ACO', 'prov']);
  });

  it('maps its endpoint to an R4 Endpoint with the same id', () => {
    expect(toEndpoint(dir.findOrganization('mco-bluecare')!)).toMatchObject({
      resourceType: 'Endpoint',
      id: 'mco-bluecare',
      status: 'active',
      connectionType: { code: 'hl7-fhir-rest' },
      managingOrganization: { reference: 'Organization/mco-bluecare' },
      address: 'http://127.0.0.1:9102/fhir',
      payloadType: [{ coding: [{ code: 'any' }] }],
    });
  });

  it('lists every Organization and Endpoint', () => {
    const all = partnerResources(dir.organizations);
    expect(all.filter((r) => r.resourceType === 'Organization')).toHaveLength(6);
    expect(all.filter((r) => r.resourceType === 'Endpoint')).toHaveLength(6);
  });
});
