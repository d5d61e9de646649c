// A version's disclosure facts are kept with it only for the exact text every read returns:
// jsonbText must print what PostgreSQL's jsonb prints, the store must keep facts only where the
// text it was given prints back unchanged, and every write that changes the content (update,
// batch, delete) must replace them — stale facts would cut the wrong characters.
import type { Observation, Resource } from '@medplum/fhirtypes';
import { makeObservation, makePatient } from '../../../bench/fhir-data.js';
import { factsOfStoredText, scanStored, storedFacts } from '../../../src/consent/stored-resource.js';
import { loadDefinitions } from '../../../src/fhir/definitions.js';
import { parseSearchRequest } from '../../../src/fhir/search/search-request.js';
import { writeVersionSql, writeVersionsSql } from '../../../src/fhir/store/index-writer.js';
import { jsonbText } from '../../../src/fhir/store/jsonb-text.js';
import { Repository } from '../../../src/fhir/store/repository.js';
import { openTestDatabase, STORE_KINDS, type TestDatabase } from '../../helpers/database.js';

const varied: unknown[] = [
  makePatient(3),
  makeObservation(4),
  {
    resourceType: 'Observation',
    id: 'o-escapes',
    status: 'final',
    code: { text: 'a "quoted" \\ back\nslash\ttab \u0001 ctrl \u007f del é ✓ 😀 </div>' },
    valueQuantity: { value: 106.7, unit: '/min' },
    component: [{ valueInteger: -0 }, { valueDecimal: 0.30000000000000004 }, { valueDecimal: 0.000001 }, { valueInteger: 12345678901234567890 }],
    extension: [],
    contained: [],
    modifierExtension: [{ url: 'urn:x', valueBoolean: false }],
    note: [{ text: '' }],
  },
  { b: { ba: [[], {}, [1, [2, { z: null, a: true }]]], a: 1 }, aa: 'x', a: 'y', c: 'z' },
];

describe.each(STORE_KINDS)('disclosure facts (%s)', (kind) => {
  let t: TestDatabase;
  let repo: Repository;
  const row = async (type: string, id: string): Promise<{ text: string | null; facts: string | null }> =>
    (
      await t.db.query<{ text: string | null; facts: string | null }>(
        'SELECT content::text AS text, disclosure_facts AS facts FROM resource WHERE resource_type = $1 AND id = $2',
        [type, id],
      )
    ).rows[0];
  /** The row's facts are what a scan of its text finds. */
  const expectFactsOfText = async (type: string, id: string): Promise<void> => {
    const { text, facts } = await row(type, id);
    expect(facts).toMatch(/^1\|/);
    expect(storedFacts(facts as string, text as string, type)).toEqual(scanStored(text as string, type));
  };

  beforeAll(async () => {
    loadDefinitions();
    t = await openTestDatabase(kind);
    repo = new Repository(t.db, { disclosureFacts: factsOfStoredText, baseUrl: 'http://test/fhir' });
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('jsonbText prints what PostgreSQL prints', async () => {
    for (const v of varied) {
      const text = jsonbText(v) as string;
      expect(text).toBeDefined();
      expect((await t.db.query<{ out: string }>('SELECT ($1::text)::jsonb::text AS out', [text])).rows[0].out).toBe(text);
    }
    // Where it would not: an exponent (jsonb prints 1e-7 as 0.0000001), a non-ASCII key.
    expect(jsonbText({ value: 1e-7 })).toBeUndefined();
    expect(jsonbText({ value: 1e21 })).toBeUndefined();
    expect(jsonbText({ 'clé': 1 })).toBeUndefined();
  });

  it('a create keeps the facts of its text; an update replaces them; a delete clears them', async () => {
    const obs = (await repo.create({ ...makeObservation(1), id: undefined } as Resource)).resource;
    await expectFactsOfText('Observation', obs.id as string);
    const before = (await row('Observation', obs.id as string)).facts;
    // A longer display before the cut ranges: every range after it moves.
    const o = obs as Observation;
    await repo.update({ ...o, code: { ...o.code, text: 'a longer code text than before' } });
    await expectFactsOfText('Observation', obs.id as string);
    expect((await row('Observation', obs.id as string)).facts).not.toBe(before);
    await repo.delete('Observation', obs.id as string);
    expect(await row('Observation', obs.id as string)).toEqual({ text: null, facts: null });
  });

  it('a batch (updateAll: creates and updates in one statement) keeps each version its own facts', async () => {
    const [a, b] = (await repo.updateAll([{ ...makePatient(11), id: 'batch-a' }, { ...makeObservation(12), id: 'batch-b' }] as Resource[])).map((r) => r.resource);
    await expectFactsOfText('Patient', 'batch-a');
    await expectFactsOfText('Observation', 'batch-b');
    await repo.updateAll([{ ...a, active: false }, { ...b, status: 'amended' }] as Resource[]);
    await expectFactsOfText('Patient', 'batch-a');
    await expectFactsOfText('Observation', 'batch-b');
  });

  it('a version jsonbText cannot print is stored as before, with no facts', async () => {
    const r = (await repo.create({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueQuantity: { value: 1e-7 } } as Resource)).resource;
    expect((await row('Observation', r.id as string)).facts).toBeNull();
    expect((await repo.read('Observation', r.id as string)) as { valueQuantity?: unknown }).toMatchObject({ valueQuantity: { value: 1e-7 } });
  });

  it('keeps no facts given with a text PostgreSQL prints otherwise (single and batch statements)', async () => {
    const compact = (id: string): Resource => ({ resourceType: 'Basic', id, code: { text: 'c' }, meta: { versionId: '1', lastUpdated: '2027-01-01T00:00:00.000Z' } }) as Resource;
    const noRows = { token: [], string: [], date: [], reference: [], number: [], uri: [] };
    const version = (id: string) => ({ resourceType: 'Basic', id, versionId: '1', lastUpdated: '2027-01-01T00:00:00.000Z', content: JSON.stringify(compact(id)), facts: 'given' });
    const single = writeVersionSql(version('compact-1'), noRows, false);
    await t.db.query(single.text, single.values, { prepare: true });
    const batch = writeVersionsSql([{ ...version('compact-2'), replace: false, rows: noRows }]);
    await t.db.query(batch.text, batch.values);
    for (const id of ['compact-1', 'compact-2']) expect(await row('Basic', id)).toEqual({ text: jsonbText(compact(id)), facts: null });
    // The same statements keep them when the text is the printed one.
    const printed = (id: string) => ({ ...version(id), content: jsonbText(compact(id)) as string });
    const single2 = writeVersionSql(printed('printed-1'), noRows, false);
    await t.db.query(single2.text, single2.values, { prepare: true });
    const batch2 = writeVersionsSql([{ ...printed('printed-2'), replace: false, rows: noRows }]);
    await t.db.query(batch2.text, batch2.values);
    for (const id of ['printed-1', 'printed-2']) expect((await row('Basic', id)).facts).toBe('given');
  });

  it('read, search and _include return the facts with the text', async () => {
    const p = (await repo.create({ ...makePatient(21), id: undefined } as Resource)).resource;
    const o = (await repo.create({ ...makeObservation(22), id: undefined, subject: { reference: `Patient/${p.id}` } } as Resource)).resource;
    const patientFacts = (await row('Patient', p.id as string)).facts;
    const obsFacts = (await row('Observation', o.id as string)).facts;
    expect(patientFacts).toMatch(/^1\|/);
    expect((await repo.readText('Patient', p.id as string)).facts).toBe(patientFacts);
    const found = await repo.search(
      parseSearchRequest('Observation', [['_id', o.id as string], ['_include', 'Observation:subject']], { strict: true, defaultCount: 50, maxCount: 1000 }),
    );
    expect(found.matches.map((m) => m.facts)).toEqual([obsFacts]);
    expect(found.included.map((m) => [m.id, m.facts])).toEqual([[p.id, patientFacts]]);
  });
});
