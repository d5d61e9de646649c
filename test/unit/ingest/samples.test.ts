// The sample files run clean through the whole pure chain (parse → group → check → map) and
// everything they produce validates; the generator is deterministic.
import { createReadStream, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MedicationDispense, Observation, Patient } from '@medplum/fhirtypes';
import { mapSource, type RecordOutcome } from '../../../src/ingest/map-stream.js';
import { parseSource } from '../../../src/ingest/parse.js';
import { generateSamples } from '../../../src/ingest/samples.js';
import { assessMedicationRisk, createLayouts, type FridClassList, LAYOUT_NAMES, parseRxNormCrosswalk } from '../../../src/mappers/index.js';
import { expectAllValid } from '../../support/fhir-validation.js';
import { ctx } from '../../support/map-context.js';

const crosswalk = parseRxNormCrosswalk(readFileSync('samples/ndc-rxnorm-crosswalk.csv', 'utf8'));
const layouts = createLayouts({ crosswalk });

async function mapFile(layout: (typeof LAYOUT_NAMES)[number]): Promise<RecordOutcome[]> {
  const out: RecordOutcome[] = [];
  const events = parseSource(createReadStream(`samples/${layout}.csv`), { format: 'csv' });
  for await (const o of mapSource(events, layouts[layout], { ...ctx, fileName: `${layout}.csv` })) out.push(o);
  return out;
}

describe('sample files', () => {
  it.each(LAYOUT_NAMES)('%s: every record maps, and the resources validate', async (layout) => {
    const outcomes = await mapFile(layout);
    const rejected = outcomes.filter((o) => !o.ok);
    expect(rejected).toEqual([]);
    expect(outcomes.length).toBeGreaterThan(0);
    // The golden tests validate every shape; here the first records of each file (speed).
    const resources = outcomes.slice(0, 4).flatMap((o) => (o.ok ? o.record.resources.map((m) => m.resource) : []));
    expectAllValid([...new Map(resources.map((r) => [`${r.resourceType}/${r.id}`, r])).values()]);
  });

  it('has people with and without polypharmacy in the claims', async () => {
    const fridClasses = JSON.parse(readFileSync('config/medication-risk/frid-classes.json', 'utf8')) as FridClassList;
    const byPatient = new Map<string, { patient: Patient & { id: string }; dispenses: (MedicationDispense & { id: string })[] }>();
    for (const o of await mapFile('pharmacy-claims')) {
      if (!o.ok) continue;
      const patient = o.record.resources.find((m) => m.resource.resourceType === 'Patient')!.resource as Patient & { id: string };
      const dispense = o.record.resources.find((m) => m.resource.resourceType === 'MedicationDispense')!.resource as MedicationDispense & { id: string };
      const entry = byPatient.get(patient.id) ?? { patient, dispenses: [] };
      entry.dispenses.push(dispense);
      byPatient.set(patient.id, entry);
    }
    const flags = [...byPatient.values()].map(
      (p) => (assessMedicationRisk({ ...p, asOf: '2026-10-15' }, ctx, { fridClasses })[0].resource as Observation).valueBoolean,
    );
    expect(flags).toContain(true);
    expect(flags).toContain(false);
  });

  it('generates the same files for the same seed, with the same people across layouts', async () => {
    const [a, b] = [await mkdtemp(join(tmpdir(), 'samples-')), await mkdtemp(join(tmpdir(), 'samples-'))];
    try {
      const ra = await generateSamples({ patients: 4, outDir: a, seed: 7 });
      await generateSamples({ patients: 4, outDir: b, seed: 7 });
      for (const f of Object.values(ra.files)) {
        const name = f.path.slice(a.length + 1);
        expect(await readFile(join(b, name), 'utf8')).toBe(await readFile(f.path, 'utf8'));
      }
      const ids = (file: string, col: number) =>
        new Set((readFileSync(join(a, file), 'utf8').trim().split('\n').slice(1)).map((l) => l.split(',')[col]).filter(Boolean));
      expect(ids('pharmacy-claims.csv', 0)).toEqual(ids('eligibility-month.csv', 0));
      expect(ids('falls-screen.csv', 2)).toEqual(ids('eligibility-month.csv', 0));
    } finally {
      await Promise.all([rm(a, { recursive: true }), rm(b, { recursive: true })]);
    }
  });
});
