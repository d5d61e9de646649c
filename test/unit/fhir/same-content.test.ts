// sameContent decides "unchanged: no new version" on every re-ingest: it must agree with the
// JSON-text definition (keys sorted, undefined members dropped) it replaced.
import type { Resource } from '@medplum/fhirtypes';
import { sameContent } from '../../../src/fhir/store/repository.js';

/** The definition: canonical JSON texts without meta.versionId / meta.lastUpdated. */
function byText(a: Resource, b: Resource): boolean {
  const strip = (r: Resource): unknown => {
    const { meta, ...rest } = r as Resource & { meta?: Record<string, unknown> };
    const { versionId: _v, lastUpdated: _l, ...m } = meta ?? {};
    return { ...rest, meta: Object.keys(m).length ? m : undefined };
  };
  const canonical = (v: unknown): string =>
    JSON.stringify(v, (_k, val: unknown) =>
      val && typeof val === 'object' && !Array.isArray(val)
        ? Object.fromEntries(Object.entries(val as Record<string, unknown>).filter(([, x]) => x !== undefined).sort(([x], [y]) => (x < y ? -1 : 1)))
        : val,
    );
  return canonical(strip(a)) === canonical(strip(b));
}

const base = {
  resourceType: 'Observation',
  id: 'o1',
  meta: { versionId: '1', lastUpdated: '2026-01-01T00:00:00Z', security: [{ system: 's', code: 'N' }] },
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '1-1', display: 'x' }] },
  valueQuantity: { value: 1.5, unit: 'kg' },
  component: [{ code: { text: 'a' }, valueBoolean: false }],
} as unknown as Resource;

const variants: [string, unknown][] = [
  ['same', structuredClone(base)],
  ['keys in another order (as jsonb returns them)', JSON.parse(JSON.stringify({ valueQuantity: { unit: 'kg', value: 1.5 }, ...base }))],
  ['another version and time only', { ...base, meta: { ...base.meta, versionId: '7', lastUpdated: '2027-01-01T00:00:00Z' } }],
  ['an undefined member', { ...base, note: undefined }],
  ['a null member', { ...base, note: null }],
  ['a missing member', { ...base, status: undefined }],
  ['another value', { ...base, valueQuantity: { value: 1.50001, unit: 'kg' } }],
  ['a number as a string', { ...base, valueQuantity: { value: '1.5', unit: 'kg' } }],
  ['another array order', { ...base, component: [{ valueBoolean: false, code: { text: 'a' } }, { code: { text: 'b' } }] }],
  ['an array element undefined vs null', { ...base, component: [null] }],
  ['an array where an object was', { ...base, valueQuantity: [] }],
  ['an empty object vs an empty array', { ...base, code: {} }],
  ['no meta but security gone', { ...base, meta: undefined }],
  ['meta with only version and time', { ...base, meta: { versionId: '1', lastUpdated: 'x', security: [{ system: 's', code: 'N' }] } }],
];

describe('sameContent', () => {
  it.each(variants)('agrees with the canonical JSON text: %s', (_name, other) => {
    const o = other as Resource;
    expect(sameContent(base, o)).toBe(byText(base, o));
    expect(sameContent(o, base)).toBe(byText(o, base));
  });

  it('treats undefined and null alike inside arrays only, as JSON text does', () => {
    const a = { resourceType: 'Basic', x: [undefined] } as unknown as Resource;
    const b = { resourceType: 'Basic', x: [null] } as unknown as Resource;
    expect(sameContent(a, b)).toBe(true);
    expect(sameContent({ resourceType: 'Basic', y: null } as unknown as Resource, { resourceType: 'Basic' } as Resource)).toBe(false);
  });
});
