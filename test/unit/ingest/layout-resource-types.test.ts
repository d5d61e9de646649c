// Upload authorization (POST /ingest/{layout}) checks scopes against LAYOUT_RESOURCE_TYPES: it
// must name every type the mappers emit for the sample files, or an upload would write types the
// client was never checked for.
import { createReadStream, readFileSync } from 'node:fs';
import { LAYOUT_RESOURCE_TYPES } from '../../../src/ingest/layout-resource-types.js';
import { mapSource } from '../../../src/ingest/map-stream.js';
import { parseSource } from '../../../src/ingest/parse.js';
import { createLayouts, LAYOUT_NAMES, parseRxNormCrosswalk } from '../../../src/mappers/index.js';
import { ctx } from '../../support/map-context.js';

const layouts = createLayouts({ crosswalk: parseRxNormCrosswalk(readFileSync('samples/ndc-rxnorm-crosswalk.csv', 'utf8')) });

describe('LAYOUT_RESOURCE_TYPES', () => {
  it.each(LAYOUT_NAMES)('names every resource type %s emits for its sample file', async (name) => {
    const emitted = new Set<string>();
    for await (const out of mapSource(parseSource(createReadStream(`samples/${name}.csv`), { format: 'csv' }), layouts[name], ctx)) {
      if (out.ok) for (const { resource } of out.record.resources) emitted.add(resource.resourceType);
    }
    if (name === 'pharmacy-claims') emitted.add('Observation'); // medication-risk observations
    expect([...emitted].filter((t) => !LAYOUT_RESOURCE_TYPES[name].includes(t))).toEqual([]);
  });
});
