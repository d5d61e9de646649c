// NdjsonFileWriter on the real local storage: pages encoded into buffers the file stream has
// released are reused, so a page must never be overwritten while the stream still holds it —
// many pages of different sizes and non-ASCII text written back to back come out byte for byte,
// and a page that would pass the size limit starts a new file.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalExportStorage } from '../../../src/fhir/bulk/export-storage.js';
import { NdjsonFileWriter } from '../../../src/fhir/bulk/ndjson-file-writer.js';

const line = (page: number, row: number, width: number): string => JSON.stringify({ resourceType: 'Observation', id: `p${page}-r${row}`, note: [{ text: `Ünïcödé ✓ ${'x'.repeat(width)}` }] });

describe('NdjsonFileWriter', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'ndjson-writer-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes 60 pages of varying size back to back exactly, reusing released buffers', async () => {
    const writer = new NdjsonFileWriter(new LocalExportStorage(dir), 'job', 'Observation', 1 << 30);
    const expected: string[] = [];
    for (let page = 0; page < 60; page++) {
      // 0.3–2.7 MB pages: whole-MiB buffers of different sizes are taken and given back.
      const rows = Array.from({ length: 300 + ((page * 37) % 400) }, (_, row) => line(page, row, 1000 + (page % 5) * 700));
      expected.push(...rows);
      await writer.writeAll(rows);
    }
    const files = await writer.close();
    expect(files).toEqual([{ type: 'Observation', file: 'Observation.1.ndjson', count: expected.length }]);
    expect(readFileSync(join(dir, 'job', 'Observation.1.ndjson'), 'utf8')).toBe(`${expected.join('\n')}\n`);
  });

  it('starts a new file where a page would pass the size limit', async () => {
    const rows = (page: number): string[] => Array.from({ length: 10 }, (_, row) => line(page, row, 100));
    const pageBytes = Buffer.byteLength(`${rows(0).join('\n')}\n`);
    const writer = new NdjsonFileWriter(new LocalExportStorage(dir), 'job', 'Observation', Math.floor(pageBytes * 2.5));
    for (let page = 0; page < 3; page++) await writer.writeAll(rows(page));
    const files = await writer.close();
    expect(files.map((f) => f.count)).toEqual([25, 5]);
    const all = files.map((f) => readFileSync(join(dir, 'job', f.file), 'utf8')).join('');
    expect(all).toBe(`${[0, 1, 2].flatMap(rows).join('\n')}\n`);
  });
});
