import { groupRows, type GroupEvent } from '../../../src/ingest/group.js';
import { parseSource, type ParseEvent, type ParseOptions } from '../../../src/ingest/parse.js';

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
async function* chunks(...parts: (string | Buffer)[]): AsyncGenerator<Uint8Array | string> {
  for (const p of parts) yield p;
}
const parse = (opts: ParseOptions, ...parts: (string | Buffer)[]) => collect(parseSource(chunks(...parts), opts));

describe('parseSource (CSV)', () => {
  it('reads a header and rows with physical line numbers, dropping empty cells', async () => {
    const events = await parse({ format: 'csv' }, 'a,b,c\r\n1,,3\r\n\r\n"x, y","multi\nline",z\n4,5,6');
    expect(events).toEqual([
      { line: 1, header: ['a', 'b', 'c'] },
      { line: 2, record: { a: '1', c: '3' } },
      { line: 4, record: { a: 'x, y', b: 'multi\nline', c: 'z' } },
      { line: 6, record: { a: '4', b: '5', c: '6' } },
    ]);
  });

  it('splits records across chunk boundaries anywhere', async () => {
    const text = 'id,name\n1,"al,""ice"""\n2,bob\n';
    for (let cut = 1; cut < text.length; cut++) {
      const events = await parse({ format: 'csv' }, text.slice(0, cut), text.slice(cut));
      expect(events.slice(1)).toEqual([
        { line: 2, record: { id: '1', name: 'al,"ice"' } },
        { line: 3, record: { id: '2', name: 'bob' } },
      ]);
    }
  });

  it('strips a UTF-8 byte order mark from the header', async () => {
    const events = await parse({ format: 'csv' }, Buffer.from([0xef, 0xbb]), Buffer.from([0xbf, 0x61, 0x2c, 0x62, 0x0a, 0x31, 0x2c, 0x32]));
    expect(events).toEqual([{ line: 1, header: ['a', 'b'] }, { line: 2, record: { a: '1', b: '2' } }]);
  });

  it('rejects a line with Latin-1 bytes and keeps the others', async () => {
    const latin1 = Buffer.concat([Buffer.from('2,Jos'), Buffer.from([0xe9]), Buffer.from('\n')]);
    const events = await parse({ format: 'csv' }, 'id,name\n1,Ana\n', latin1, '3,Zoë\n');
    expect(events).toEqual([
      { line: 1, header: ['id', 'name'] },
      { line: 2, record: { id: '1', name: 'Ana' } },
      { line: 3, error: expect.objectContaining({ location: ['Line[3]'], diagnostics: expect.stringContaining('invalid UTF-8 at byte 5') }) },
      { line: 4, record: { id: '3', name: 'Zoë' } },
    ]);
  });

  it('rejects a row with the wrong number of fields', async () => {
    const events = await parse({ format: 'csv' }, 'a,b\n1,2,3\n');
    expect(events[1]).toEqual({ line: 2, error: expect.objectContaining({ diagnostics: 'line 2: expected 2 fields (header), found 3' }) });
  });

  it('rejects a single 50 MB line as a record error, memory flat, and reads on', async () => {
    const mb = 1024 * 1024;
    async function* huge(): AsyncGenerator<Uint8Array | string> {
      yield 'a,b\n1,2\n';
      const block = Buffer.alloc(64 * 1024, 0x78);
      for (let i = 0; i < (50 * mb) / block.length; i++) yield block;
      yield '\n3,4\n';
    }
    const before = process.memoryUsage();
    const events = await collect(parseSource(huge(), { format: 'csv', maxRecordBytes: mb }));
    const after = process.memoryUsage();
    expect(events).toEqual([
      { line: 1, header: ['a', 'b'] },
      { line: 2, record: { a: '1', b: '2' } },
      { line: 3, error: expect.objectContaining({ code: 'too-long', diagnostics: expect.stringContaining('52428800 bytes') }) },
      { line: 4, record: { a: '3', b: '4' } },
    ]);
    expect(after.heapUsed + after.arrayBuffers - (before.heapUsed + before.arrayBuffers)).toBeLessThan(20 * mb);
  });
});

describe('parseSource (NDJSON)', () => {
  it('reads objects, stringifies scalars, rejects bad JSON and nested values per line', async () => {
    const events = await parse(
      { format: 'ndjson' },
      '{"a":"x","n":3,"z":null}\n',
      '{bad\n',
      '\n',
      '{"a":{"b":1}}\n[1]\n{"a":"y"}',
    );
    expect(events).toEqual<ParseEvent[]>([
      { line: 1, record: { a: 'x', n: '3' } },
      { line: 2, error: expect.objectContaining({ diagnostics: expect.stringContaining('JSON syntax') }) },
      { line: 4, error: expect.objectContaining({ expression: ['a'] }) },
      { line: 5, error: expect.objectContaining({ diagnostics: 'line 5: each NDJSON line must be a JSON object' }) },
      { line: 6, record: { a: 'y' } },
    ]);
  });
});

describe('groupRows', () => {
  const rows = (...specs: [number, string][]) =>
    (async function* () {
      for (const [line, id] of specs) yield id === 'ERR' ? { line, error: { severity: 'error' as const, code: 'invalid' as const } } : { line, row: { id } };
    })();

  it('groups consecutive rows by key', async () => {
    const out = await collect(groupRows(rows([2, 'a'], [3, 'a'], [4, 'b'], [5, 'a']), (r) => r.id));
    expect(out.map((g) => ('rows' in g ? g.rows.map((r) => r.line) : g.line))).toEqual([[2, 3], [4], [5]]);
  });

  it('rejects a record with an unreadable line inside it, but not its neighbours', async () => {
    const out: GroupEvent[] = await collect(groupRows(rows([2, 'a'], [3, 'ERR'], [4, 'a'], [5, 'b'], [6, 'ERR'], [7, 'c']), (r) => r.id));
    expect(out.map((g) => ('rows' in g ? [g.rows.map((r) => r.line), g.issues.length] : ['line', g.line]))).toEqual([
      ['line', 3],
      [[2, 4], 1],
      ['line', 6],
      [[5], 0],
      [[7], 0],
    ]);
  });

  it('bounds memory: a record over maxRows is rejected with its row count', async () => {
    const many = Array.from({ length: 12 }, (_, i) => [i + 2, 'a'] as [number, string]);
    const [g] = await collect(groupRows(rows(...many), (r) => r.id, 5));
    expect('rows' in g && g.rows.length).toBe(5);
    expect(g.issues[0].diagnostics).toContain('more than 5 rows (12)');
  });
});
