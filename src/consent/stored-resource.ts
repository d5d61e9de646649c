// What a disclosure decision needs from a stored resource, read from its JSON text without
// parsing it into objects: type, id, meta (labels, labeler rules version, versionId), the people
// it refers to (as patients-of.ts finds them), and where the narrative and Reference.display
// members are — so a permitted resource can leave as its stored text with those members cut
// out (obligations.ts), with no JSON.parse / JSON.stringify (about half the export cost:
// ../shared/reference/perf-ceilings.md).
//
// A single pass over the text. Anything it is not sure to read exactly as JSON.parse would — a
// key with an escape, a duplicate key it relies on, contained resources, a Group (inactive
// members), nesting deeper than the obligations walk, a syntax error — returns undefined and the
// caller parses the resource the ordinary way. It never decides anything itself.
import type { Meta } from '@medplum/fhirtypes';
import { PATIENT_REF } from './patients-of.js';

export interface StoredFacts {
  resourceType: string;
  id: string;
  meta?: Meta;
  /** Every Patient referred to outside meta and narrative (a superset of patientsOf()). */
  patientIds: string[];
  /** The root `text` member (narrative), as a range to cut. */
  narrative?: [number, number];
  /** `display` members of References (objects with `reference`, or `identifier` and no `system`). */
  displays: [number, number][];
}

const MAX_DEPTH = 40;

class NotScannable extends Error {}
const bail = (): never => {
  throw new NotScannable();
};

/** Facts of a stored resource's JSON text; undefined when it must be parsed instead. */
export function scanStored(text: string): StoredFacts | undefined {
  try {
    return new Scan(text).run();
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

/** A member the obligations may cut, and what is needed to cut it with one comma. */
interface Member {
  index: number;
  keyStart: number;
  valueEnd: number;
  /** End of the previous member's value (-1 for the first member). */
  prevValueEnd: number;
  /** Key start of the next member (-1 until known, or when last). */
  nextKeyStart: number;
}

const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

class Scan {
  private i = 0;
  private readonly patients = new Set<string>();
  private readonly displays: [number, number][] = [];
  private resourceType?: string;
  private id?: string;
  private meta?: Meta;
  private narrative?: [number, number];
  private contained = false;

  constructor(private readonly s: string) {}

  run(): StoredFacts {
    this.ws();
    if (this.s.charCodeAt(this.i) !== 0x7b) bail();
    this.object(0, false, false);
    this.ws();
    if (this.i !== this.s.length) bail();
    const { resourceType, id, narrative } = this;
    if (!resourceType || !id || this.contained || resourceType === 'Group') bail();
    // Cuts must neither overlap nor touch (a display beside the narrative at the root, a display
    // nested in a display): such a resource is parsed instead.
    const cuts = narrative ? [...this.displays, narrative] : [...this.displays];
    cuts.sort((a, b) => a[0] - b[0]);
    for (let k = 1; k < cuts.length; k++) if (cuts[k][0] <= cuts[k - 1][1]) bail();
    this.displays.sort((a, b) => a[0] - b[0]);
    // A Patient is about itself only (patientsOf: its links to other Patients are not its subject).
    const patientIds = resourceType === 'Patient' ? [id as string] : [...this.patients];
    return { resourceType: resourceType as string, id: id as string, meta: this.meta, patientIds, narrative, displays: this.displays };
  }

  private ws(): void {
    const s = this.s;
    let c = s.charCodeAt(this.i);
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = s.charCodeAt(++this.i);
  }

  /** At an opening quote: moves past the closing one; returns whether the string holds an escape. */
  private string(): boolean {
    const s = this.s;
    let i = this.i + 1;
    let escaped = false;
    for (;;) {
      const c = s.charCodeAt(i);
      if (c === 0x22) {
        this.i = i + 1;
        return escaped;
      }
      if (c === 0x5c) {
        escaped = true;
        i += 2;
        continue;
      }
      if (!(c >= 0x20)) bail(); // control character or end of text (NaN)
      i++;
    }
  }

  /**
   * One value. `skipRefs`: inside the root's meta or narrative (patientsOf does not look there).
   * `inRootMeta`: the root meta subtree (the display scrub does not look there).
   */
  private value(depth: number, skipRefs: boolean, inRootMeta: boolean): void {
    const c = this.s.charCodeAt(this.i);
    if (c === 0x7b) this.object(depth, skipRefs, inRootMeta);
    else if (c === 0x5b) this.array(depth, skipRefs, inRootMeta);
    else if (c === 0x22) this.string();
    else this.literal();
  }

  private literal(): void {
    const s = this.s;
    const start = this.i;
    for (;;) {
      const c = s.charCodeAt(this.i);
      if (c === 0x2c || c === 0x7d || c === 0x5d || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || Number.isNaN(c)) break;
      this.i++;
    }
    const lit = s.slice(start, this.i);
    if (lit !== 'true' && lit !== 'false' && lit !== 'null' && !NUMBER.test(lit)) bail();
  }

  private array(depth: number, skipRefs: boolean, inRootMeta: boolean): void {
    if (depth >= MAX_DEPTH) bail();
    this.i++;
    this.ws();
    if (this.s.charCodeAt(this.i) === 0x5d) {
      this.i++;
      return;
    }
    for (;;) {
      this.ws();
      this.value(depth + 1, skipRefs, inRootMeta);
      this.ws();
      const c = this.s.charCodeAt(this.i++);
      if (c === 0x5d) return;
      if (c !== 0x2c) bail();
    }
  }

  private object(depth: number, skipRefs: boolean, inRootMeta: boolean): void {
    if (depth >= MAX_DEPTH) bail();
    const s = this.s;
    const root = depth === 0;
    let members = 0;
    let prevValueEnd = -1;
    let display: Member | undefined;
    let narrative: Member | undefined;
    let reference = false;
    let identifier = false;
    let system = false;
    const seenRoot = root ? new Set<string>() : undefined;
    this.i++;
    this.ws();
    if (s.charCodeAt(this.i) === 0x7d) {
      this.i++;
      return;
    }
    for (;;) {
      this.ws();
      if (s.charCodeAt(this.i) !== 0x22) bail();
      const keyStart = this.i;
      if (this.string()) bail(); // an escaped key could spell a name the obligations look for
      const key = s.slice(keyStart + 1, this.i - 1);
      if (display && display.index === members - 1) display.nextKeyStart = keyStart;
      if (narrative && narrative.index === members - 1) narrative.nextKeyStart = keyStart;
      this.ws();
      if (s.charCodeAt(this.i++) !== 0x3a) bail();
      this.ws();
      const valueStart = this.i;
      if (seenRoot) {
        if (seenRoot.has(key)) bail();
        seenRoot.add(key);
      }
      this.value(depth + 1, skipRefs || (root && (key === 'meta' || key === 'text')), inRootMeta || (root && key === 'meta'));
      const valueEnd = this.i;
      const member: Member = { index: members, keyStart, valueEnd, prevValueEnd, nextKeyStart: -1 };
      switch (key) {
        case 'display':
          if (display) bail();
          display = member;
          break;
        case 'reference':
          reference = true;
          if (!skipRefs && s.charCodeAt(valueStart) === 0x22) this.patientRef(valueStart, valueEnd);
          break;
        case 'identifier':
          identifier = true;
          break;
        case 'system':
          system = true;
          break;
      }
      if (root) {
        if (key === 'text') narrative = member;
        else if (key === 'contained') this.contained = true;
        else if (key === 'meta') this.meta = JSON.parse(s.slice(valueStart, valueEnd)) as Meta;
        else if (key === 'resourceType' || key === 'id') this.rootString(key, valueStart, valueEnd);
      }
      members++;
      prevValueEnd = valueEnd;
      this.ws();
      const c = s.charCodeAt(this.i++);
      if (c === 0x7d) break;
      if (c !== 0x2c) bail();
    }
    // obligations.ts scrubDisplay: an object with reference, or identifier and no system.
    if (display && !inRootMeta && (reference || (identifier && !system))) this.displays.push(cut(display, members));
    if (narrative) this.narrative = cut(narrative, members);
  }

  private rootString(key: 'resourceType' | 'id', valueStart: number, valueEnd: number): void {
    if (this.s.charCodeAt(valueStart) !== 0x22) bail();
    const raw = this.s.slice(valueStart + 1, valueEnd - 1);
    if (raw.includes('\\')) bail();
    if (key === 'id') this.id = raw;
    else this.resourceType = raw;
  }

  private patientRef(valueStart: number, valueEnd: number): void {
    let ref = this.s.slice(valueStart + 1, valueEnd - 1);
    if (ref.includes('\\')) ref = JSON.parse(this.s.slice(valueStart, valueEnd)) as string;
    if (!ref.includes('Patient/')) return;
    const m = PATIENT_REF.exec(ref);
    if (m) this.patients.add(m[1]);
  }
}

/** A member's text with one separating comma, so what remains is valid JSON. */
function cut(m: Member, members: number): [number, number] {
  if (m.index > 0) return [m.prevValueEnd, m.valueEnd];
  if (members === 1) return [m.keyStart, m.valueEnd];
  return [m.keyStart, m.nextKeyStart];
}
