// The change-in-condition intake through the real gateway (PostgreSQL, own schema): the
// published Questionnaire, a report POSTed as a QuestionnaireResponse turning into Observations,
// a Flag and a Communication to the CareTeam's care-coordination points of contact in the same
// transaction, and an invalid report rejected with a 422 that writes nothing.
import { http, startGateway, type RunningGateway } from '../../helpers/gateway.js';
import { storeFingerprint } from '../../helpers/database.js';
import { CHANGE_IN_CONDITION_QUESTIONNAIRE, CARE_COORDINATION_ROLE_SYSTEM } from '../../../src/care/change-in-condition/vocabulary.js';

let gw: RunningGateway;
let patientId: string;

const report = (over: Record<string, unknown> = {}) => ({
  resourceType: 'QuestionnaireResponse',
  questionnaire: CHANGE_IN_CONDITION_QUESTIONNAIRE,
  status: 'completed',
  subject: { reference: `Patient/${patientId}` },
  authored: '2028-03-02T10:15:00Z',
  item: [
    {
      linkId: 'changes',
      item: [
        { linkId: 'fall', answer: [{ valueBoolean: true }] },
        { linkId: 'pain', answer: [{ valueBoolean: true }] },
        { linkId: 'talks-less', answer: [{ valueBoolean: false }] },
      ],
    },
    { linkId: 'note', answer: [{ valueString: 'Found on the floor by the bed' }] },
  ],
  ...over,
});

beforeAll(async () => {
  gw = await startGateway('postgres', { env: { EXCHANGE_ENABLED: 'false' } });
  patientId = (await http('POST', `${gw.fhir}/Patient`, { resourceType: 'Patient', name: [{ family: 'Watch' }] })).body.id;
  const rn = (await http('POST', `${gw.fhir}/Practitioner`, { resourceType: 'Practitioner', name: [{ family: 'Coordinator' }] })).body.id;
  await http('POST', `${gw.fhir}/CareTeam`, {
    resourceType: 'CareTeam',
    status: 'active',
    subject: { reference: `Patient/${patientId}` },
    participant: [
      { role: [{ coding: [{ system: CARE_COORDINATION_ROLE_SYSTEM, code: 'aco-rn-care-coordinator' }] }], member: { reference: `Practitioner/${rn}` } },
      { role: [{ text: 'Neighbour' }], member: { reference: 'Organization/someone-else' } },
    ],
  });
});

afterAll(async () => {
  await gw?.close();
});

const search = async (q: string) => (await http('GET', `${gw.fhir}/${q}`)).body.entry?.map((e: { resource: any }) => e.resource) ?? [];

describe('change-in-condition report', () => {
  it('publishes the Questionnaire and its CodeSystems', async () => {
    const q = await http('GET', `${gw.fhir}/Questionnaire/change-in-condition`);
    expect(q.status).toBe(200);
    expect(q.body.url).toBe(CHANGE_IN_CONDITION_QUESTIONNAIRE);
    expect(q.body.item[0].item.map((i: { linkId: string }) => i.linkId)).toContain('fall');
    expect((await http('GET', `${gw.fhir}/CodeSystem/change-in-condition`)).status).toBe(200);
    expect((await http('GET', `${gw.fhir}/CodeSystem/care-coordination-role`)).status).toBe(200);
  });

  it('turns a report into Observations for the "yes" items, a Flag and a Communication to the points of contact', async () => {
    const r = await http('POST', `${gw.fhir}/QuestionnaireResponse`, report());
    expect(r.status).toBe(201);
    const obs = await search(`Observation?derived-from=QuestionnaireResponse/${r.body.id}`);
    expect(obs.map((o: any) => o.code.coding[0].code).sort()).toEqual(['fall', 'pain']);
    expect(obs.every((o: any) => o.valueBoolean === true && o.subject.reference === `Patient/${patientId}`)).toBe(true);
    const flags = await search(`Flag?patient=Patient/${patientId}`);
    expect(flags).toHaveLength(1);
    expect(flags[0].status).toBe('active');
    expect(flags[0].code.text).toMatch(/Had a fall/);
    const comms = await search(`Communication?subject=Patient/${patientId}`);
    expect(comms).toHaveLength(1);
    expect(comms[0].priority).toBe('urgent');
    expect(comms[0].recipient).toEqual([{ reference: expect.stringMatching(/^Practitioner\//) }]);
    expect(comms[0].about[0].reference).toBe(`QuestionnaireResponse/${r.body.id}`);
  });

  it('withdraws the Observation of an item an amended report no longer says "yes" to', async () => {
    const r = await http('POST', `${gw.fhir}/QuestionnaireResponse`, report());
    const amended = { ...r.body, status: 'amended', item: [{ linkId: 'changes', item: [{ linkId: 'fall', answer: [{ valueBoolean: true }] }, { linkId: 'pain', answer: [{ valueBoolean: false }] }] }] };
    expect((await http('PUT', `${gw.fhir}/QuestionnaireResponse/${r.body.id}`, amended)).status).toBe(200);
    const obs = await search(`Observation?derived-from=QuestionnaireResponse/${r.body.id}`);
    const byCode = Object.fromEntries(obs.map((o: any) => [o.code.coding[0].code, o.status]));
    expect(byCode).toEqual({ fall: 'amended', pain: 'entered-in-error' });
  });

  it.each([
    ['an unknown item', { item: [{ linkId: 'changes', item: [{ linkId: 'hungry', answer: [{ valueBoolean: true }] }] }] }, 'QuestionnaireResponse.item[0].item[0].linkId'],
    ['a non-boolean answer', { item: [{ linkId: 'changes', item: [{ linkId: 'fall', answer: [{ valueString: 'yes' }] }] }] }, 'QuestionnaireResponse.item[0].item[0].answer'],
    ['no subject', { subject: undefined }, 'QuestionnaireResponse.subject'],
    ['a subject that does not exist', { subject: { reference: 'Patient/nobody' } }, 'QuestionnaireResponse.subject'],
    ['an in-progress report', { status: 'in-progress' }, 'QuestionnaireResponse.status'],
  ])('rejects a report with %s: 422, nothing written', async (_what, over, expression) => {
    const before = await storeFingerprint(gw.gateway.db);
    const r = await http('POST', `${gw.fhir}/QuestionnaireResponse`, report(over));
    expect(r.status).toBe(422);
    expect(r.body.resourceType).toBe('OperationOutcome');
    expect(r.body.issue.flatMap((i: { expression?: string[] }) => i.expression ?? [])).toContain(expression);
    expect(await storeFingerprint(gw.gateway.db)).toBe(before);
  });

  it('leaves QuestionnaireResponses of other questionnaires alone', async () => {
    const r = await http('POST', `${gw.fhir}/QuestionnaireResponse`, { resourceType: 'QuestionnaireResponse', status: 'completed', questionnaire: 'http://example.org/Questionnaire/other', subject: { reference: `Patient/${patientId}` } });
    expect(r.status).toBe(201);
    expect(await search(`Observation?derived-from=QuestionnaireResponse/${r.body.id}`)).toEqual([]);
  });
});
