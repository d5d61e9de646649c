#!/usr/bin/env node
// Runs one TypeScript file through tsx: `node bin/run-ts.js path/to/file.ts [args…]`.
// Used by the npm scripts that run sources directly (bench:fhir).
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { register } from 'tsx/esm/api';

const file = process.argv[2];
if (!file) {
  console.error('usage: node bin/run-ts.js <file.ts> [args…]');
  process.exit(2);
}
register();
// The script sees its own arguments as if it had been run directly.
process.argv.splice(1, 2, resolve(file));
await import(pathToFileURL(resolve(file)).href);
