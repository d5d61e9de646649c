// Search index extraction: for each R4 SearchParameter of a resource's type, evaluate its
// FHIRPath expression and turn the values into rows of one index table per parameter type.
// Generic over all resource types: nothing here is written for a particular resource.
import { evalFhirPathTyped, parseFhirPath, toTypedValue, type FhirPathAtom, type TypedValue } from '@medplum/core';
import type { Resource, SearchParameter } from '@medplum/fhirtypes';
import { searchParametersFor } from '../definitions.js';
import { dateRange } from './dates.js';

export interface IndexRows {
  token: { param: string; system: string | null; code: string | null }[];
  string: { param: string; norm: string; exact: string }[];
  date: { param: string; low: number | null; high: number | null }[];
  reference: { param: string; targetType: string | null; targetId: string | null; targetVersion: string | null; url: string | null }[];
  number: { param: string; value: number; system: string | null; code: string | null }[];
  uri: { param: string; value: string }[];
}

/** Parameters handled as columns of the resource table, not index rows. */
const COLUMN_PARAMS = new Set(['_id', '_lastUpdated']);

const atoms = new Map<string, FhirPathAtom | null>();

/**
 * The expression for one type. Shared parameters such as `patient` or `identifier` carry one
 * union over 30+ types; evaluating every branch costs ~1.5 ms a resource, so keep only the
 * branches that can apply to this type (same result, ~50× faster).
 */
function atomFor(resourceType: string, sp: SearchParameter): FhirPathAtom | null {
  const key = `${resourceType}|${sp.code}`;
  let atom = atoms.get(key);
  if (atom === undefined) {
    const expr = sp.expression as string;
    const branches = splitUnion(expr).filter((b) => {
      const head = /^\(*\s*([A-Za-z]+)[.\s)]/.exec(b)?.[1];
      return head === undefined || head === resourceType || head === 'Resource' || head === 'DomainResource' || !/^[A-Z]/.test(head);
    });
    atom = branches.length ? parseFhirPath(branches.join(' | ')) : null;
    atoms.set(key, atom);
  }
  return atom;
}

/** Splits "A.x | (B.y as T) | C.z" at top-level pipes (not inside parentheses or strings). */
export function splitUnion(expr: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote = false;
  let start = 0;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i];
    if (c === "'" && expr[i - 1] !== '\\') quote = !quote;
    else if (!quote && c === '(') depth++;
    else if (!quote && c === ')') depth--;
    else if (!quote && depth === 0 && c === '|') {
      out.push(expr.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(expr.slice(start).trim());
  return out.filter(Boolean);
}

/** Lower-case, accents removed: the form string search compares (R4 search.html#string). */
export function normalizeString(s: string): string {
  return s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase();
}

/** The search parameters whose values are indexed for this type. */
export function indexedParameters(resourceType: string): SearchParameter[] {
  return Object.values(searchParametersFor(resourceType)).filter(
    (sp) => sp.expression && !COLUMN_PARAMS.has(sp.code as string) && sp.type !== 'composite' && sp.type !== 'special',
  );
}

export function extractIndexRows(resource: Resource): IndexRows {
  const rows: IndexRows = { token: [], string: [], date: [], reference: [], number: [], uri: [] };
  const root = [toTypedValue(resource)];
  for (const sp of indexedParameters(resource.resourceType)) {
    const atom = atomFor(resource.resourceType, sp);
    if (!atom) continue;
    let values: TypedValue[];
    try {
      values = evalFhirPathTyped(atom, root);
    } catch {
      continue; // an expression that cannot evaluate on this resource indexes nothing
    }
    const param = sp.code as string;
    for (const tv of values) addValue(rows, param, sp.type as string, tv);
  }
  if (resource.resourceType === 'Group') addInactiveMembers(rows, resource);
  return dedupe(rows);
}

/**
 * Group members marked inactive (an alignment roster's dropped people) get an internal row, so
 * the relationship check and Group export can leave them out with an index lookup. Internal: no
 * SearchParameter has this code, so no client can search on it.
 */
export const INACTIVE_MEMBER_PARAM = '_inactive-member';

function addInactiveMembers(rows: IndexRows, group: Resource): void {
  for (const m of (group as { member?: { entity?: { reference?: string }; inactive?: boolean }[] }).member ?? []) {
    const target = /^([A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(m.entity?.reference ?? '');
    if (m.inactive && target) rows.reference.push({ param: INACTIVE_MEMBER_PARAM, targetType: target[1], targetId: target[2], targetVersion: null, url: null });
  }
}

function addValue(rows: IndexRows, param: string, type: string, tv: TypedValue): void {
  const v = tv.value as unknown;
  if (v === undefined || v === null) return;
  switch (type) {
    case 'token':
      return addToken(rows, param, tv);
    case 'string':
      for (const s of stringsOf(tv)) rows.string.push({ param, norm: normalizeString(s), exact: s });
      return;
    case 'date':
      return addDate(rows, param, tv);
    case 'reference':
      return addReference(rows, param, tv);
    case 'number':
      if (typeof v === 'number') rows.number.push({ param, value: v, system: null, code: null });
      return;
    case 'quantity': {
      const q = v as { value?: number; system?: string; code?: string; unit?: string };
      if (typeof q.value === 'number') {
        rows.number.push({ param, value: q.value, system: q.system ?? null, code: q.code ?? q.unit ?? null });
      }
      return;
    }
    case 'uri':
      if (typeof v === 'string') rows.uri.push({ param, value: v });
      return;
  }
}

function addToken(rows: IndexRows, param: string, tv: TypedValue): void {
  const v = tv.value as Record<string, unknown> & { coding?: { system?: string; code?: string }[] };
  switch (tv.type) {
    case 'CodeableConcept':
      for (const c of v.coding ?? []) if (c.code) rows.token.push({ param, system: c.system ?? null, code: c.code });
      return;
    case 'Coding':
      if (v.code) rows.token.push({ param, system: (v.system as string) ?? null, code: v.code as string });
      return;
    case 'Identifier':
      if (v.value) rows.token.push({ param, system: (v.system as string) ?? null, code: v.value as string });
      return;
    case 'ContactPoint':
      if (v.value) rows.token.push({ param, system: (v.system as string) ?? null, code: v.value as string });
      return;
    default:
      if (typeof tv.value === 'string' || typeof tv.value === 'boolean' || typeof tv.value === 'number') {
        rows.token.push({ param, system: null, code: String(tv.value) });
      }
  }
}

function stringsOf(tv: TypedValue): string[] {
  const v = tv.value as Record<string, unknown>;
  const out: string[] = [];
  const push = (x: unknown): void => {
    if (typeof x === 'string' && x) out.push(x);
    else if (Array.isArray(x)) x.forEach(push);
  };
  if (tv.type === 'HumanName') {
    push(v.text);
    push(v.family);
    push(v.given);
    push(v.prefix);
    push(v.suffix);
  } else if (tv.type === 'Address') {
    push(v.text);
    push(v.line);
    push(v.city);
    push(v.district);
    push(v.state);
    push(v.postalCode);
    push(v.country);
  } else if (typeof tv.value === 'string') {
    out.push(tv.value);
  }
  return out;
}

function addDate(rows: IndexRows, param: string, tv: TypedValue): void {
  const v = tv.value as Record<string, unknown>;
  const push = (lowS?: unknown, highS?: unknown): void => {
    const low = typeof lowS === 'string' ? dateRange(lowS)?.low : undefined;
    const high = typeof highS === 'string' ? dateRange(highS)?.high : undefined;
    if (low === undefined && high === undefined) return;
    rows.date.push({ param, low: low ?? null, high: high ?? null });
  };
  if (typeof tv.value === 'string') {
    push(tv.value, tv.value);
  } else if (tv.type === 'Period') {
    push(v.start, v.end);
  } else if (tv.type === 'Timing') {
    for (const e of (v.event as string[] | undefined) ?? []) push(e, e);
    const bounds = (v.repeat as { boundsPeriod?: { start?: string; end?: string } } | undefined)?.boundsPeriod;
    if (bounds) push(bounds.start, bounds.end);
  }
}

const REF_RE = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/([A-Za-z0-9\-.]{1,64}))?$/;

/** Splits a literal reference into type, id and version; relative or absolute. */
export function parseReference(ref: string): { type: string; id: string; version?: string } | undefined {
  const m = REF_RE.exec(ref);
  return m ? { type: m[1], id: m[2], version: m[3] } : undefined;
}

function addReference(rows: IndexRows, param: string, tv: TypedValue): void {
  if (typeof tv.value === 'string') {
    // canonical / uri references
    const parsed = parseReference(tv.value);
    rows.reference.push({ param, targetType: parsed?.type ?? null, targetId: parsed?.id ?? null, targetVersion: null, url: tv.value });
    return;
  }
  const ref = (tv.value as { reference?: string }).reference;
  if (!ref || ref.startsWith('#')) return;
  const parsed = parseReference(ref);
  rows.reference.push({
    param,
    targetType: parsed?.type ?? null,
    targetId: parsed?.id ?? null,
    targetVersion: parsed?.version ?? null,
    url: parsed ? null : ref,
  });
}

function dedupe(rows: IndexRows): IndexRows {
  const uniq = <T>(list: T[]): T[] => {
    const seen = new Set<string>();
    return list.filter((r) => {
      const k = JSON.stringify(r);
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
  };
  return {
    token: uniq(rows.token),
    string: uniq(rows.string),
    date: uniq(rows.date),
    reference: uniq(rows.reference),
    number: uniq(rows.number),
    uri: uniq(rows.uri),
  };
}
