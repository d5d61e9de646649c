// Applies a permit's obligations to the copy that leaves the gateway (consent-security.md §1.5,
// §4.3 C12, C25): narrative dropped (we cannot analyse free text), Reference.display scrubbed
// ("Acme Methadone Clinic"), Part 2 refrains added as labels and the 42 CFR 2.32 notice attached
// as a meta extension. Copy on write: an untouched resource is returned as the same object, so
// callers can send its stored JSON unchanged.
import type { Coding, Resource } from '@medplum/fhirtypes';
import type { Obligations } from './decision-point.js';

export const DISCLOSURE_NOTICE_URL = 'https://lead-gateway.example.org/fhir/StructureDefinition/disclosure-notice';

export function applyObligations(resource: Resource, o: Obligations): Resource {
  let out = o.scrubReferenceDisplay ? (scrubDisplay(resource, 0) as Resource) : resource;
  if (o.dropNarrative) out = dropNarrative(out);
  if (o.addLabels.length || o.notice) {
    const security: Coding[] = [...(out.meta?.security ?? [])];
    for (const l of o.addLabels) if (!security.some((s) => s.system === l.system && s.code === l.code)) security.push(l);
    const extension = [...(out.meta?.extension ?? [])];
    if (o.notice && !extension.some((e) => e.url === DISCLOSURE_NOTICE_URL)) extension.push({ url: DISCLOSURE_NOTICE_URL, valueString: o.notice });
    out = { ...out, meta: { ...out.meta, security, ...(extension.length ? { extension } : {}) } } as Resource;
  }
  return out;
}

function dropNarrative(r: Resource): Resource {
  const rec = r as Resource & { text?: unknown; contained?: Resource[] };
  const containedHasText = rec.contained?.some((c) => 'text' in c);
  if (!('text' in rec) && !containedHasText) return r;
  const { text: _t, ...rest } = rec;
  const out = rest as Resource & { contained?: Resource[] };
  if (containedHasText) out.contained = rec.contained!.map((c) => dropNarrative(c));
  return out;
}

/** Removes `display` from every Reference (an object with reference or identifier). */
function scrubDisplay(node: unknown, depth: number): unknown {
  if (node === null || typeof node !== 'object' || depth > 40) return node;
  if (Array.isArray(node)) {
    let arr: unknown[] | undefined;
    for (let i = 0; i < node.length; i++) {
      const x = node[i] as unknown;
      const y = x !== null && typeof x === 'object' ? scrubDisplay(x, depth + 1) : x;
      if (y !== x) (arr ??= [...node])[i] = y;
    }
    return arr ?? node;
  }
  const o = node as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  if (o.display !== undefined && (o.reference !== undefined || (o.identifier !== undefined && o.system === undefined))) {
    copy = { ...o };
    delete copy.display;
  }
  for (const k in o) {
    if (depth === 0 && k === 'meta') continue;
    const v = o[k];
    if (v === null || typeof v !== 'object') continue;
    const y = scrubDisplay(v, depth + 1);
    if (y !== v) (copy ??= { ...o })[k] = y;
  }
  return copy ?? o;
}
