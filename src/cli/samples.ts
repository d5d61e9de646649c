// `lead-gateway samples generate --patients N [--out DIR] [--seed S]`: synthetic files for every
// layout, the same people across them (src/ingest/samples.ts).
import type { Command } from 'commander';
import { generateSamples } from '../ingest/samples.js';

export function registerSamples(program: Command): void {
  program
    .command('samples')
    .description('Synthetic sample files')
    .command('generate')
    .description('Write synthetic CSV files for every ingest layout, with consistent people across layouts')
    .option('--patients <n>', 'number of synthetic people', '20')
    .option('--out <dir>', 'output folder', 'samples')
    .option('--seed <n>', 'random seed (same seed, same files)', '42')
    .action(async (o: { patients: string; out: string; seed: string }) => {
      const patients = Number(o.patients);
      if (!Number.isInteger(patients) || patients < 1) {
        process.stderr.write('--patients must be a positive integer\n');
        process.exitCode = 2;
        return;
      }
      const result = await generateSamples({ patients, outDir: o.out, seed: Number(o.seed) });
      for (const f of Object.values(result.files)) process.stdout.write(`${f.path}: ${f.rows} rows\n`);
    });
}
