// What a disclosure decision needs from a stored resource, read from its stored JSON text without
// parsing it into objects: type, id, meta (labels, labeler rules version, versionId), the people
// it refers to (exactly as patients-of.ts finds them), and where the narrative and the
// Reference.display members are — so a permitted resource can leave as its stored text with those
// members cut out (obligations.ts), with no JSON.parse / JSON.stringify (about half the export
// cost: ../shared/reference/perf-ceilings.md).
//
// It reads PostgreSQL's jsonb text output (`content::text`, what every store read returns), whose
// layout is fixed: `{"k": v, "k2": v2}`, `[a, b]`, no duplicate keys, and object keys ordered by
// length, then bytes (so `id` comes first, `system` before `display`, `display` before
// `reference` and `identifier`). It finds keys with native indexOf (a `"key": ` preceded by `{` or
// `, ` is a key: inside a string every quote is escaped) and walks only the root members up to
// `text` and the objects around each `display`. Anything else — another layout, contained
// resources, a Group (inactive members), a key or id with an escape, a display it cannot place —
// returns undefined and the caller parses the resource the ordinary way. It never decides.
// Unlike the object walks (depth limit 40) it finds references and displays at any depth: more
// people to check and more displays cut, never fewer.
import type { Meta } from '@medplum/fhirtypes';
import { ID_RE } from '../fhir/store/repository.js';
import { PATIENT_REF } from './patients-of.js';

export interface StoredFacts {
  resourceType: string;
  id: string;
  meta?: Meta;
  /**
   * The part of `meta` other than versionId and lastUpdated (labels, tags, profiles), one frozen
   * object shared by every row whose meta text has the same such part: callers key per-label
   * work on it (ConsentEngine decides once per page for rows that share it).
   */
  labelMeta?: Readonly<Meta>;
  /** Every Patient referred to outside the root meta and narrative (as patientsOf()). */
  patientIds: string[];
  /** The root `text` member (narrative), as a range to cut. */
  narrative?: [number, number];
  /** `display` members of References (objects with `reference`, or `identifier` and no `system`), sorted. */
  displays: [number, number][];
  /** Where the root `meta` value is, when there is one. */
  metaAt?: [number, number];
}

class NotScannable extends Error {}
const bail = (): never => {
  throw new NotScannable();
};

/** Facts of a stored resource's jsonb text; undefined when it must be parsed instead. */
export function scanStored(text: string, resourceType: string): StoredFacts | undefined {
  try {
    return scan(text, resourceType);
  } catch (e) {
    if (e instanceof NotScannable) return undefined;
    throw e;
  }
}

/**
 * The stored text as a permit's plain obligations leave it (obligations.ts): narrative dropped,
 * Reference.display removed — the same JSON value applyObligations() gives, from the same text.
 */
export function cutStored(text: string, facts: StoredFacts, o: { dropNarrative: boolean; scrubReferenceDisplay: boolean }): string {
  const ranges = o.scrubReferenceDisplay ? [...facts.displays] : [];
  if (o.dropNarrative && facts.narrative) ranges.push(facts.narrative);
  if (!ranges.length) return text;
  ranges.sort((a, b) => a[0] - b[0]);
  let out = '';
  let at = 0;
  for (const [from, to] of ranges) {
    out += text.slice(at, from);
    at = to;
  }
  return out + text.slice(at);
}

const ID_PREFIX = '{"id": "';
const REFERENCE_KEY = '"reference": ';
const DISPLAY_KEY = '"display": ';
const DISPLAY = 'display": ';
const CONTAINED = 'contained": ';

function scan(s: string, resourceType: string): StoredFacts {
  if (resourceType === 'Group' || !textAt(s, 0, ID_PREFIX)) bail();
  // jsonb writes \u escapes only for control characters; one elsewhere could spell a key.
  if (s.includes('\\u')) bail();
  const idEnd = stringEnd(s, ID_PREFIX.length - 1);
  const id = s.slice(ID_PREFIX.length, idEnd - 1);
  if (id.includes('\\')) bail();

  // Root members up to the last key of length 4 (meta, text): keys are ordered by length.
  let meta: Meta | undefined;
  let labelMeta: Readonly<Meta> | undefined;
  let metaRange: [number, number] = [-1, -1];
  let narrative: [number, number] | undefined;
  let at = idEnd;
  while (s.charCodeAt(at) === 0x2c) {
    const keyStart = at + 2; // after ", "
    if (s.charCodeAt(keyStart) !== 0x22) bail();
    const keyEnd = stringEnd(s, keyStart);
    const len = keyEnd - keyStart - 2;
    if (len > 4) break;
    const valueStart = keyEnd + 2; // after ": "
    if (len === 4 && textAt(s, keyStart + 1, 'meta')) {
      if (meta) bail();
      const known = knownMeta(s, valueStart);
      const valueEnd = known ? known.end : valueEndAt(s, valueStart);
      [meta, labelMeta] = known ? [known.meta, known.labelMeta] : parseMeta(s.slice(valueStart, valueEnd));
      metaRange = [valueStart, valueEnd];
      at = valueEnd;
      continue;
    }
    const valueEnd = valueEndAt(s, valueStart);
    if (len === 4 && textAt(s, keyStart + 1, 'text')) {
      if (narrative) bail();
      narrative = [at, valueEnd]; // never the first member (id is): cut with the comma before it
    }
    at = valueEnd;
  }
  const metaFrom = metaRange[0];
  const metaTo = metaRange[1];
  const textFrom = narrative ? narrative[0] : -1;
  const textTo = narrative ? narrative[1] : -1;

  // The keys that matter, each found by native indexOf on text whose first character is rare in
  // JSON ("Patient/", "display": without its quote, "contained": without its quote): measured
  // 0.6 µs a row against 1 µs for one regular expression over the keys (its quote is everywhere).
  // Contained resources have their own narrative and meta: parse.
  for (let i = s.indexOf(CONTAINED); i > 0; i = s.indexOf(CONTAINED, i + 1)) if (s.charCodeAt(i - 1) === 0x22 && isKey(s, i - 1)) bail();
  const patients = new Set<string>();
  // A Patient is about itself only (patientsOf: its links to other Patients are not its subject).
  if (resourceType !== 'Patient') {
    for (let i = s.indexOf('Patient/'); i >= 0; i = s.indexOf('Patient/', i + 1)) {
      // Only a string holds "Patient/"; its opening quote is the nearest quote before, unless an
      // escaped one is between (then parse). Kept when it is the value of a `reference` key.
      if ((i > metaFrom && i < metaTo) || (i > textFrom && i < textTo)) continue; // neither walk looks there
      const open = s.lastIndexOf('"', i);
      if (s.charCodeAt(open - 1) === 0x5c) bail();
      const key = open - REFERENCE_KEY.length;
      if (!textAt(s, key, REFERENCE_KEY) || !isKey(s, key)) continue;
      const end = stringEnd(s, open);
      let ref = s.slice(open + 1, end - 1);
      if (ref.includes('\\')) ref = JSON.parse(s.slice(open, end)) as string;
      const p = PATIENT_REF.exec(ref);
      if (p) patients.add(p[1]);
      i = end;
    }
  }
  const displays: [number, number][] = [];
  let lastEnd = -1;
  for (let i = s.indexOf(DISPLAY); i > 0; i = s.indexOf(DISPLAY, i + 1)) {
    const key = i - 1;
    if (s.charCodeAt(key) !== 0x22 || !isKey(s, key) || (key > metaFrom && key < metaTo)) continue;
    if (key > textFrom && key < textTo) bail();
    const cut = displayCut(s, key);
    if (!cut) continue;
    if (cut[0] <= lastEnd) bail(); // nested in another cut
    lastEnd = cut[1];
    displays.push(cut);
  }
  if (narrative && displays.some(([a, b]) => a <= narrative[1] && narrative[0] <= b)) bail();
  const patientIds = resourceType === 'Patient' ? [id] : [...patients];
  return { resourceType, id, meta, labelMeta, patientIds, narrative, displays, ...(meta ? { metaAt: metaRange } : {}) };
}

/**
 * A scan's facts as the store keeps them beside the version they describe (the
 * `disclosure_facts` column, written with it): the text's length, the meta, narrative and
 * display ranges, the people. Undefined when an id would not survive the encoding.
 */
export function encodeFacts(f: StoredFacts, text: string): string | undefined {
  // The people's ids are joined by spaces: only R4 ids (no space, no `|`) survive that.
  if (!f.patientIds.every((p) => ID_RE.test(p))) return undefined;
  const range = (r?: [number, number]): string => (r ? `${r[0]} ${r[1]}` : '-1 -1');
  return `1|${text.length}|${range(f.metaAt)}|${range(f.narrative)}|${f.displays.flat().join(' ')}|${f.patientIds.join(' ')}`;
}

/** What the write path keeps with a version written as `text` (RepositoryOptions.disclosureFacts). */
export function factsOfStoredText(resourceType: string, text: string): string | undefined {
  const facts = scanStored(text, resourceType);
  return facts && encodeFacts(facts, text);
}

/**
 * The facts of `text` from what the store kept when it was written (encodeFacts), without
 * scanning it; undefined — scan instead — unless they fit this very text: same length, and
 * every range where its member is (a `"meta": ` before the meta, `, "text": ` opening the
 * narrative, each display cut on a `"display": ` member). The store keeps facts only for the
 * exact text it returns (index-writer.ts), so these checks only guard against a mistake.
 */
export function storedFacts(encoded: string, text: string, resourceType: string): StoredFacts | undefined {
  // Read by hand: split('|') and split(' ').map(Number) cost about a microsecond a row, half a scan.
  const read = readNumbers(encoded);
  const n = read?.numbers;
  const people = read ? encoded.slice(read.peopleAt) : '|';
  if (!n || people.includes('|') || n.length < 6 || n[0] !== 1 || n[1] !== text.length || (n.length - 6) % 2 || !textAt(text, 0, ID_PREFIX)) return undefined;
  const idEnd = text.indexOf('"', ID_PREFIX.length);
  const id = text.slice(ID_PREFIX.length, idEnd);
  if (idEnd < 0 || id.includes('\\')) return undefined;
  const [, , mf, mt, nf, nt] = n;
  let meta: Meta | undefined;
  let labelMeta: Readonly<Meta> | undefined;
  if (mf >= 0) {
    if (!textAt(text, mf - META_KEY.length, META_KEY) || text.charCodeAt(mf) !== 0x7b || text.charCodeAt(mt - 1) !== 0x7d) return undefined;
    const known = knownMeta(text, mf);
    if (known && known.end !== mt) return undefined;
    [meta, labelMeta] = known ? [known.meta, known.labelMeta] : parseMeta(text.slice(mf, mt));
  }
  let narrative: [number, number] | undefined;
  if (nf >= 0) {
    if (!textAt(text, nf, NARRATIVE_MEMBER) || !memberEnds(text, nt)) return undefined;
    narrative = [nf, nt];
  }
  const displays: [number, number][] = [];
  for (let i = 6; i < n.length; i += 2) {
    const a = n[i];
    const b = n[i + 1];
    // displayCut's two shapes: the object's first member (cut with the ", " after it), or a later one (with the ", " before).
    const first = text.charCodeAt(a - 1) === 0x7b && textAt(text, a, DISPLAY_MEMBER) && textAt(text, b - 2, ', ');
    const later = textAt(text, a, `, ${DISPLAY_MEMBER}`) && memberEnds(text, b);
    if (!(first || later) || b <= a) return undefined;
    displays.push([a, b]);
  }
  const patientIds = !people ? [] : people.includes(' ') ? people.split(' ') : [people];
  return { resourceType, id, meta, labelMeta, patientIds, narrative, displays, ...(meta ? { metaAt: [mf, mt] as [number, number] } : {}) };
}

/**
 * The numbers of an encoding, up to its people (from `peopleAt`): version, length, meta and
 * narrative ranges, then the display ranges flattened. Undefined when it is not that shape.
 */
function readNumbers(encoded: string): { numbers: number[]; peopleAt: number } | undefined {
  const out: number[] = [];
  let bars = 0;
  let value = 0;
  let digits = 0;
  let negative = false;
  for (let i = 0; i < encoded.length; i++) {
    const c = encoded.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) {
      value = value * 10 + (c - 0x30);
      digits++;
      continue;
    }
    if (c === 0x2d && !digits && !negative) {
      negative = true;
      continue;
    }
    if (c !== 0x20 && c !== 0x7c) return undefined;
    if (digits) out.push(negative ? -value : value);
    else if (negative || c === 0x20) return undefined;
    value = digits = 0;
    negative = false;
    // After the fifth bar come the people's ids, not numbers.
    if (c === 0x7c && ++bars === 5) return { numbers: out, peopleAt: i + 1 };
  }
  return undefined;
}

const META_KEY = '"meta": ';
const NARRATIVE_MEMBER = ', "text": {';
const DISPLAY_MEMBER = '"display": "';
/** A member's value ends at b: the next member or the object's end follows. */
const memberEnds = (s: string, b: number): boolean => s.charCodeAt(b) === 0x2c || s.charCodeAt(b) === 0x7d;

/**
 * A stored meta, parsed. Meta texts differ from row to row only in versionId and lastUpdated,
 * which jsonb puts last (its longest keys; a quote inside a string is escaped, so the key text is
 * found only as a key): the text before them is parsed once per distinct text, not once per row.
 */
function parseMeta(text: string): [Meta, Readonly<Meta> | undefined] {
  try {
    return parseMetaParts(text);
  } catch {
    // The key text nested deeper (an extension's valueMeta): head and tail are not JSON.
    return [JSON.parse(text) as Meta, undefined];
  }
}

function parseMetaParts(text: string): [Meta, Readonly<Meta> | undefined] {
  const cut = firstOf(text.indexOf('"versionId": '), text.indexOf('"lastUpdated": '));
  if (cut < 0) return [JSON.parse(text) as Meta, undefined];
  const head = text.slice(0, cut);
  let shared = metaHeads.get(head);
  if (!shared) {
    shared = deepFreeze(JSON.parse(head.endsWith(', ') ? `${head.slice(0, -2)}}` : `${head}}`) as Meta);
    if (metaHeads.size >= META_CACHE_SIZE) metaHeads.clear();
    metaHeads.set(head, shared);
  }
  recentHeads.unshift({ head, meta: shared });
  if (recentHeads.length > RECENT_HEADS) recentHeads.pop();
  const v = VERSION_TAIL.exec(text.slice(cut));
  const rest = v ? { versionId: v[1], lastUpdated: v[2] } : (JSON.parse(`{${text.slice(cut)}`) as Pick<Meta, 'versionId' | 'lastUpdated'>);
  return [{ ...shared, ...rest }, shared];
}

/**
 * The meta starting at `start` when its head is one of the last few parsed (the rows of a page
 * share one or two) and its tail is the usual `"versionId": "…", "lastUpdated": "…"}`: matched in
 * place, without slicing, hashing or walking the meta's text. Undefined otherwise (parseMeta).
 */
function knownMeta(s: string, start: number): { meta: Meta; labelMeta: Readonly<Meta>; end: number } | undefined {
  for (const h of recentHeads) {
    // substring + === compares memory at once; startsWith measured 5-10× slower here (its generic path).
    if (!textAt(s, start, h.head)) continue;
    const v0 = start + h.head.length + VERSION_KEY.length;
    if (!textAt(s, v0 - VERSION_KEY.length, VERSION_KEY)) continue;
    const v1 = s.indexOf('"', v0);
    if (v1 < 0 || !textAt(s, v1, LAST_UPDATED_KEY)) continue;
    const l0 = v1 + LAST_UPDATED_KEY.length;
    const l1 = s.indexOf('"', l0);
    if (l1 < 0 || s.charCodeAt(l1 + 1) !== 0x7d) continue;
    const versionId = s.slice(v0, v1);
    const lastUpdated = s.slice(l0, l1);
    // A backslash before either closing quote would make it part of the string: not this shape.
    if (versionId.includes('\\') || lastUpdated.includes('\\')) continue;
    return { meta: { ...h.meta, versionId, lastUpdated }, labelMeta: h.meta, end: l1 + 2 };
  }
  return undefined;
}

const textAt = (s: string, at: number, expected: string): boolean => s.substring(at, at + expected.length) === expected;

const VERSION_KEY = '"versionId": "';
const LAST_UPDATED_KEY = '", "lastUpdated": "';
const RECENT_HEADS = 4;
const recentHeads: { head: string; meta: Readonly<Meta> }[] = [];

/** The usual tail of a stored meta (no escapes), read without JSON.parse. */
const VERSION_TAIL = /^"versionId": "([^"\\]*)", "lastUpdated": "([^"\\]*)"}$/;

const firstOf = (a: number, b: number): number => (a < 0 ? b : b < 0 ? a : Math.min(a, b));
const META_CACHE_SIZE = 1000;
const metaHeads = new Map<string, Readonly<Meta>>();

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object') {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

/**
 * The range to cut for the `display` member whose key starts at i, when its object is a
 * Reference (obligations.ts scrubDisplay: reference, or identifier and no system); else undefined.
 */
function displayCut(s: string, i: number): [number, number] | undefined {
  const first = s.charCodeAt(i - 1) === 0x7b;
  const valueEnd = valueEndAt(s, i + DISPLAY_KEY.length);
  // The members after display: in jsonb order, reference and identifier come after it.
  let reference = false;
  let identifier = false;
  let j = valueEnd;
  while (s.charCodeAt(j) === 0x2c) {
    const keyStart = j + 2;
    const keyEnd = stringEnd(s, keyStart);
    const len = keyEnd - keyStart - 2;
    if (len < 7) bail(); // not jsonb's key order
    if (len === 9 && textAt(s, keyStart + 1, 'reference')) reference = true;
    else if (len === 10 && textAt(s, keyStart + 1, 'identifier')) identifier = true;
    j = valueEndAt(s, keyEnd + 2);
  }
  if (s.charCodeAt(j) !== 0x7d) bail();
  if (!reference && !identifier) return undefined;
  // identifier without reference: scrubbed only if the object has no system, which would come
  // before display; the members before it are not read, so parse unless display is first.
  if (!reference && !first) bail();
  return first ? [i, valueEnd + 2] : [i - 2, valueEnd];
}

/** `"key": ` at i is a member key: jsonb puts one only after `{` or `, `. */
function isKey(s: string, i: number): boolean {
  const c = s.charCodeAt(i - 1);
  return c === 0x7b || (c === 0x20 && s.charCodeAt(i - 2) === 0x2c);
}

/** At an opening quote: the index after the closing one. */
function stringEnd(s: string, open: number): number {
  let q = s.indexOf('"', open + 1);
  for (;;) {
    if (q < 0) bail();
    let k = q - 1;
    while (s.charCodeAt(k) === 0x5c) k--;
    if ((q - 1 - k) % 2 === 0) return q + 1;
    q = s.indexOf('"', q + 1);
  }
}

/** The index just after the JSON value starting at i. */
function valueEndAt(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === 0x22) return stringEnd(s, i);
  if (c !== 0x7b && c !== 0x5b) {
    // Literal or number: up to the next delimiter.
    let j = i;
    for (;;) {
      const d = s.charCodeAt(j);
      if (d === 0x2c || d === 0x7d || d === 0x5d || Number.isNaN(d)) break;
      j++;
    }
    if (j === i) bail();
    return j;
  }
  let depth = 0;
  let j = i;
  for (;;) {
    const d = s.charCodeAt(j);
    if (d === 0x22) {
      j = stringEnd(s, j);
      continue;
    }
    if (d === 0x7b || d === 0x5b) depth++;
    else if (d === 0x7d || d === 0x5d) {
      if (--depth === 0) return j + 1;
    } else if (Number.isNaN(d)) bail();
    j++;
  }
}
