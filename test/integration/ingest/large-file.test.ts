// Issue #4, "a file of 100,000 rows with 1% bad rows → exactly those rows rejected, the rest
// stored once", through the real store (PostgreSQL, the batched, concurrent write path). HCBS
// assessment items: the layout with the fewest resource writes per row (≈1.3). 1,000 bad rows of
// varied kinds: 800 are records of their own (only that line is rejected), 200 sit inside an
// assessment (which is rejected whole: a record is all-or-nothing, reported with all its lines).
// The store runs without the validation option: it is half of the CPU per resource and would
// double the suite's longest test, and what it decides is covered elsewhere (profiles.test.ts
// validates what every mapper emits, store-batches.test.ts a record the store refuses).
import { createReadStream, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Repository } from '../../../src/fhir/store/repository.js';
import { mapSource } from '../../../src/ingest/map-stream.js';
import { parseSource } from '../../../src/ingest/parse.js';
import { ingest, type IngestReport } from '../../../src/ingest/pipeline.js';
import { generateSamples } from '../../../src/ingest/samples.js';
import { createLayouts, parseRxNormCrosswalk } from '../../../src/mappers/index.js';
import { ctx } from '../../support/map-context.js';
import { openTestDatabase, storeFingerprint, type TestDatabase } from '../../helpers/database.js';

const ROWS = 100_000;
const OWN_RECORD_BAD = 800;
const IN_RECORD_BAD = 200;

const layouts = createLayouts({ crosswalk: parseRxNormCrosswalk(readFileSync('samples/ndc-rxnorm-crosswalk.csv', 'utf8')) });
const layout = layouts['hcbs-assessment'];

let dir: string;
let t: TestDatabase;
let repo: Repository;
let file: string;
/** Lines (1 = header) the report must name, each with the line its issue points at. */
const expectedRejects = new Map<number, { lines: number[]; badLine: number }>();

/**
 * The generator's assessments, whole, up to 99,200 rows (the last one cut short, still a valid
 * smaller assessment), with a bad line of its own before every 124th row and a bad row in place
 * of one item of every 26th assessment.
 */
function buildFile(sample: string): string[] {
  const [header, ...rows] = readFileSync(sample, 'utf8').trimEnd().split('\n');
  const columns = header.split(',');
  const col = (name: string) => columns.indexOf(name);
  const set = (row: string, name: string, value: string) => {
    const f = row.split(',');
    f[col(name)] = value;
    return f.join(',');
  };
  const good = rows.slice(0, ROWS - OWN_RECORD_BAD);
  // Records of the generator: consecutive rows sharing assessment_id.
  const records: string[][] = [];
  for (const row of good) {
    const id = row.split(',')[0];
    if (records.at(-1)?.[0].split(',')[0] === id) records.at(-1)!.push(row);
    else records.push([row]);
  }
  // Bad rows inside assessments: the whole assessment is rejected.
  const spoiled = new Map<number, number>(); // record index → index of its bad row
  for (let k = 0; k < IN_RECORD_BAD; k++) {
    const r = 1 + k * 26;
    const rec = records[r];
    const kind = k % 3;
    if (kind === 0) rec[3] = set(rec[3], 'response_code', '99'); // unknown code
    else if (kind === 1) rec[3] = set(rec[3], 'response_code', ''); // missing required field
    else {
      const med = rec.findIndex((x) => x.split(',')[col('record_type')] === 'medication');
      rec[med] = set(rec[med], 'ndc', '99999-01O1-01'); // not an NDC
      spoiled.set(r, med);
      continue;
    }
    spoiled.set(r, 3);
  }
  // Bad records of one line each, between assessments.
  const ownKinds = [
    (i: number) => `SYNBAD${i},header,26,SYNX${i},,1950-01-01,F,FASI_1_1,2026-02-30,SYN-CM-1,SYN-AAA-1,Agency,,,,,,,,,,`, // bad date
    (i: number) => `SYNBAD${i},header,26,,,1950-01-01,F,FASI_1_1,2026-09-10,SYN-CM-1,SYN-AAA-1,Agency,,,,,,,,,,`, // missing msis_id
    (i: number) => `SYNBAD${i},header,26,SYNX${i},,1950-01-01,Q,FASI_1_1,2026-09-10,SYN-CM-1,SYN-AAA-1,Agency,,,,,,,,,,`, // unknown sex code
    (i: number) => `SYNBAD${i},item,,,,,,,,,,,GG0130A,usual_3d,03,,,,,,,`, // an item with no header
  ];
  const out = [header];
  let ownBad = 0;
  let sinceBad = 0;
  records.forEach((rec, r) => {
    if (sinceBad >= 124 && ownBad < OWN_RECORD_BAD) {
      out.push(ownKinds[ownBad % ownKinds.length](ownBad));
      expectedRejects.set(out.length, { lines: [out.length], badLine: out.length });
      ownBad++;
      sinceBad = 0;
    }
    const first = out.length + 1;
    out.push(...rec);
    sinceBad += rec.length;
    const bad = spoiled.get(r);
    if (bad !== undefined) expectedRejects.set(first, { lines: rec.map((_, i) => first + i), badLine: first + bad });
  });
  while (ownBad < OWN_RECORD_BAD) {
    out.push(ownKinds[ownBad % ownKinds.length](ownBad));
    expectedRejects.set(out.length, { lines: [out.length], badLine: out.length });
    ownBad++;
  }
  return out;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ingest-100k-'));
  await generateSamples({ patients: Math.ceil(ROWS / 18), outDir: dir, seed: 3 });
  file = join(dir, 'hcbs-100k.csv');
  writeFileSync(file, buildFile(join(dir, 'hcbs-assessment.csv')).join('\n') + '\n');
  t = await openTestDatabase('postgres');
  repo = new Repository(t.db, { now: () => new Date('2026-11-02T09:00:00Z') });
}, 120_000);
afterAll(async () => {
  await t?.drop();
  if (dir) await rm(dir, { recursive: true });
});

const run = () => ingest(createReadStream(file), { layout, format: 'csv', ctx: { ...ctx, fileName: 'hcbs-100k.csv' }, repo });

/** Every resource the accepted records map to (pure dry run of the same file): type/id → count of records. */
async function expectedResources(): Promise<Set<string>> {
  const keys = new Set<string>();
  for await (const o of mapSource(parseSource(createReadStream(file), { format: 'csv' }), layout, ctx)) {
    if (o.ok) for (const { resource } of o.record.resources) keys.add(`${resource.resourceType}/${resource.id}`);
  }
  return keys;
}

describe('a 100,000-row file with 1% bad rows', () => {
  let first: IngestReport;

  it('rejects exactly the bad rows (and the assessments they are part of), and stores everything else once', async () => {
    expect(readFileSync(file, 'utf8').trimEnd().split('\n')).toHaveLength(ROWS + 1);
    first = await run();
    expect(first.rejected).toBe(OWN_RECORD_BAD + IN_RECORD_BAD);
    expect(first.accepted).toBe(first.records - first.rejected);
    // Exactly the expected lines, in line order, each reject's issues pointing at its bad line.
    expect(first.rejects.map((r) => r.lines)).toEqual([...expectedRejects.values()].map((e) => e.lines));
    for (const r of first.rejects) {
      const { badLine } = expectedRejects.get(r.lines[0])!;
      expect(r.issues.length).toBeGreaterThan(0);
      expect(r.issues.flatMap((i) => i.location ?? [])).toContain(`Line[${badLine}]`);
    }
    const kinds = new Set(first.rejects.flatMap((r) => r.issues.map((i) => i.expression?.[0])));
    for (const field of ['assessment_date', 'msis_id', 'sex_cd', 'record_type', 'response_code', 'ndc']) expect(kinds).toContain(field);

    // Stored: exactly the resources of the accepted records, each once, at version 1.
    const expected = await expectedResources();
    const stored = await t.db.query<{ key: string; version_id: string }>(`SELECT resource_type || '/' || id AS key, version_id::text FROM resource`);
    expect(stored.rows).toHaveLength(expected.size);
    expect(new Set(stored.rows.map((r) => r.key))).toEqual(expected);
    expect(stored.rows.every((r) => r.version_id === '1')).toBe(true);
    const history = await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM resource_history');
    expect(history.rows[0].n).toBe(expected.size);
    expect(first.resources.created).toBe(expected.size);
    // Nothing of a rejected assessment: its id appears on no stored QuestionnaireResponse.
    const qr = await t.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM resource WHERE resource_type = 'QuestionnaireResponse'`,
    );
    expect(qr.rows[0].n).toBe(first.accepted);
  }, 400_000);

  it('re-ingesting the file changes nothing', async () => {
    const before = await storeFingerprint(t.db);
    const again = await run();
    expect(again).toMatchObject({ records: first.records, accepted: first.accepted, rejected: first.rejected });
    expect(again.resources).toMatchObject({ created: 0, updated: 0 });
    expect(await storeFingerprint(t.db)).toBe(before);
  }, 400_000);
});
