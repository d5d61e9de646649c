// Streaming parse of source files (CSV with a header row, or NDJSON) into rows with line numbers.
// Memory stays flat: bytes are split into records as they arrive, a record longer than
// maxRecordBytes is skipped (reported, never buffered), and nothing else is retained.
// Each record is checked for valid UTF-8 on its own, so one Latin-1 line rejects only itself.
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { parse as parseCsvLine } from 'csv-parse/sync';
import { recordIssue } from '../mappers/common/issues.js';
import type { SourceRow } from '../mappers/common/types.js';

export type SourceFormat = 'csv' | 'ndjson';

export interface ParseOptions {
  format: SourceFormat;
  /** Largest record (CSV row or NDJSON line) in bytes; longer ones are rejected. Default 1 MiB. */
  maxRecordBytes?: number;
}

export type ParseEvent =
  | { line: number; header: string[] }
  | { line: number; record: SourceRow }
  | { line: number; error: OperationOutcomeIssue };

const NL = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Async iterator of {line, header} (CSV, once), {line, record} and {line, error}. */
export async function* parseSource(
  input: AsyncIterable<Uint8Array | string>,
  options: ParseOptions,
): AsyncGenerator<ParseEvent> {
  const max = options.maxRecordBytes ?? 1024 * 1024;
  const csv = options.format === 'csv';
  let columns: string[] | undefined;
  for await (const raw of splitRecords(input, csv, max)) {
    if ('tooLong' in raw) {
      yield { line: raw.line, error: recordIssue(raw.line, undefined, `record longer than ${max} bytes (${raw.tooLong} bytes): skipped`, { code: 'too-long' }) };
      continue;
    }
    let text: string;
    try {
      text = utf8.decode(raw.bytes);
    } catch {
      const at = firstInvalidUtf8(raw.bytes);
      yield {
        line: raw.line,
        error: recordIssue(raw.line, undefined, `invalid UTF-8 at byte ${at} (Latin-1/Windows-1252 text?): the file must be UTF-8`, { code: 'invalid' }),
      };
      continue;
    }
    if (text.trim() === '') continue;
    if (!csv) {
      yield parseNdjsonLine(text, raw.line);
      continue;
    }
    let fields: string[];
    try {
      // Without quotes or line breaks a row is exactly its comma-split fields; csv-parse (with its
      // delimiter discovery) costs ~8% of an ingest's CPU for what split gives.
      const parsed = /["\r\n]/.test(text) ? (parseCsvLine(text, { relax_column_count: true }) as string[][]) : [text.split(',')];
      fields = parsed[0] ?? [];
      if (parsed.length !== 1) throw new Error('expected one record');
    } catch (err) {
      yield { line: raw.line, error: recordIssue(raw.line, undefined, `CSV syntax: ${(err as Error).message}`, { code: 'structure' }) };
      continue;
    }
    if (!columns) {
      columns = fields.map((f) => f.trim());
      yield { line: raw.line, header: columns };
      continue;
    }
    if (fields.length !== columns.length) {
      yield {
        line: raw.line,
        error: recordIssue(raw.line, undefined, `expected ${columns.length} fields (header), found ${fields.length}`, { code: 'structure' }),
      };
      continue;
    }
    const record: SourceRow = {};
    columns.forEach((c, i) => {
      const v = fields[i].trim();
      if (v !== '') record[c] = v;
    });
    yield { line: raw.line, record };
  }
}

function parseNdjsonLine(text: string, line: number): ParseEvent {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { line, error: recordIssue(line, undefined, `JSON syntax: ${(err as Error).message}`, { code: 'structure' }) };
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    return { line, error: recordIssue(line, undefined, 'each NDJSON line must be a JSON object', { code: 'structure' }) };
  }
  const record: SourceRow = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === null || v === '') continue;
    if (typeof v === 'object') return { line, error: recordIssue(line, k, 'nested values are not allowed: use a flat object', { code: 'structure' }) };
    const s = String(v).trim();
    if (s !== '') record[k] = s;
  }
  return { line, record };
}

type RawRecord = { line: number; bytes: Buffer } | { line: number; tooLong: number };

/**
 * Splits a byte stream into records at newlines (outside CSV quotes), counting physical lines so a
 * record's line is where it starts. Strips a UTF-8 BOM at the start and a trailing CR.
 */
async function* splitRecords(input: AsyncIterable<Uint8Array | string>, csv: boolean, max: number): AsyncGenerator<RawRecord> {
  let parts: Buffer[] = [];
  let size = 0;
  let skipped = 0; // > 0 while skipping an over-long record
  let inQuotes = false;
  let physical = 1; // current physical line
  let start = 1; // line where the current record started
  let first = true;

  const take = (chunk: Buffer, from: number, to: number) => {
    if (to <= from) return;
    if (skipped > 0 || size + (to - from) > max) {
      skipped = (skipped > 0 ? skipped : size) + (to - from);
      parts = [];
      size = 0;
      return;
    }
    parts.push(chunk.subarray(from, to));
    size += to - from;
  };
  const finish = (): RawRecord | undefined => {
    let out: RawRecord | undefined;
    if (skipped > 0) out = { line: start, tooLong: skipped };
    else if (size > 0) {
      let bytes = parts.length === 1 ? parts[0] : Buffer.concat(parts, size);
      if (bytes[bytes.length - 1] === CR) bytes = bytes.subarray(0, bytes.length - 1);
      // Copy: the chunk a subarray points into must not stay alive with the record.
      out = { line: start, bytes: Buffer.from(bytes) };
    }
    parts = [];
    size = 0;
    skipped = 0;
    return out;
  };

  for await (const piece of input) {
    let chunk = typeof piece === 'string' ? Buffer.from(piece, 'utf8') : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    if (first) {
      first = false;
      if (chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) chunk = chunk.subarray(3);
    }
    let from = 0;
    if (!csv) {
      for (let nl = chunk.indexOf(NL, from); nl !== -1; nl = chunk.indexOf(NL, from)) {
        take(chunk, from, nl);
        const rec = finish();
        if (rec) yield rec;
        physical++;
        start = physical;
        from = nl + 1;
      }
    } else {
      for (let i = 0; i < chunk.length; i++) {
        const b = chunk[i];
        if (b === QUOTE) inQuotes = !inQuotes;
        else if (b === NL) {
          physical++;
          if (inQuotes) continue;
          take(chunk, from, i);
          const rec = finish();
          if (rec) yield rec;
          start = physical;
          from = i + 1;
        }
      }
    }
    take(chunk, from, chunk.length);
  }
  const rec = finish();
  if (rec) yield rec;
}

/** Byte offset of the first invalid UTF-8 sequence (for the error message). */
function firstInvalidUtf8(bytes: Buffer): number {
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i];
    const n = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
    if (n === 0 || i + n > bytes.length) return i;
    for (let k = 1; k < n; k++) if ((bytes[i + k] & 0xc0) !== 0x80) return i;
    i += n;
  }
  return 0;
}
