// Writes profiles/CodeSystem-*.json from the mappers' vocabulary tables:
//   npx tsx profiles/tools/build-codesystems.ts
import { readFileSync, writeFileSync } from 'node:fs';
import { buildCodeSystems } from '../../src/mappers/vocab/code-systems.js';

const frid = JSON.parse(readFileSync('config/medication-risk/frid-classes.json', 'utf8'));
for (const cs of buildCodeSystems(frid)) {
  writeFileSync(`profiles/CodeSystem-${cs.id}.json`, JSON.stringify(cs, null, 2) + '\n');
  console.log(`wrote CodeSystem-${cs.id}.json (${cs.count} concepts)`);
}
