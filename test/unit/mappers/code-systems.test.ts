// The CodeSystems published in /profiles match the mappers' tables, and every local code the
// mappers emit for the sample files is defined in them.
import { createReadStream, readdirSync, readFileSync } from 'node:fs';
import type { Coding, MedicationDispense } from '@medplum/fhirtypes';
import { mapSource } from '../../../src/ingest/map-stream.js';
import { parseSource } from '../../../src/ingest/parse.js';
import { LEAD_CANONICAL } from '../../../src/mappers/common/systems.js';
import { assessMedicationRisk, createLayouts, type FridClassList, LAYOUT_NAMES, parseRxNormCrosswalk } from '../../../src/mappers/index.js';
import { buildCodeSystems } from '../../../src/mappers/vocab/code-systems.js';
import { buildPatient } from '../../../src/mappers/common/parties.js';
import { ctx } from '../../support/map-context.js';

const frid = JSON.parse(readFileSync('config/medication-risk/frid-classes.json', 'utf8')) as FridClassList;

function codings(value: unknown, out: Coding[] = []): Coding[] {
  if (Array.isArray(value)) value.forEach((v) => codings(v, out));
  else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.system === 'string' && typeof o.code === 'string') out.push(o as Coding);
    Object.values(o).forEach((v) => codings(v, out));
  }
  return out;
}

describe('published CodeSystems', () => {
  it('are what profiles/tools/build-codesystems.ts builds from the vocabulary tables', () => {
    // CodeSystem-shared-risk-protocol.json is built from the risk protocol (profiles/tools/build-risk-profiles.mjs).
    const files = readdirSync('profiles').filter((f) => f.startsWith('CodeSystem-') && f !== 'CodeSystem-shared-risk-protocol.json');
    const built = buildCodeSystems(frid);
    expect(files.sort()).toEqual(built.map((cs) => `CodeSystem-${cs.id}.json`).sort());
    for (const cs of built) expect(JSON.parse(readFileSync(`profiles/CodeSystem-${cs.id}.json`, 'utf8'))).toEqual(cs);
  });

  it('define every local code the mappers emit for the samples', async () => {
    const defined = new Map(buildCodeSystems(frid).map((cs) => [cs.url!, new Set(cs.concept!.map((c) => c.code))]));
    const layouts = createLayouts({ crosswalk: parseRxNormCrosswalk(readFileSync('samples/ndc-rxnorm-crosswalk.csv', 'utf8')) });
    const emitted: Coding[] = [];
    const dispenses: (MedicationDispense & { id: string })[] = [];
    for (const name of LAYOUT_NAMES) {
      for await (const o of mapSource(parseSource(createReadStream(`samples/${name}.csv`), { format: 'csv' }), layouts[name], ctx)) {
        if (!o.ok) continue;
        for (const m of o.record.resources) {
          codings(m.resource, emitted);
          if (m.resource.resourceType === 'MedicationDispense') dispenses.push(m.resource as MedicationDispense & { id: string });
        }
      }
    }
    for (const m of assessMedicationRisk({ patient: buildPatient({ state: '26', msisId: 'SYN0000001' }), dispenses, asOf: '2026-10-15' }, ctx, { fridClasses: frid })) {
      codings(m.resource, emitted);
    }
    const local = emitted.filter((c) => c.system!.startsWith(`${LEAD_CANONICAL}/CodeSystem/`));
    expect(local.length).toBeGreaterThan(100);
    const missing = [...new Set(local.filter((c) => !defined.get(c.system!)?.has(c.code!)).map((c) => `${c.system}|${c.code}`))];
    expect(missing).toEqual([]);
  });
});
