// Parses a FHIR search query (R4 search.html) into a SearchRequest: pure, no SQL. Every
// parameter must be one the R4 definitions give this type; the result parameters are here too.
import type { SearchParameter } from '@medplum/fhirtypes';
import { isR4ResourceType, searchParametersFor } from '../definitions.js';
import { outcomes } from '../outcomes.js';

export type Prefix = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap';
const PREFIXES = new Set<Prefix>(['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap']);

export interface Filter {
  code: string;
  type: string; // token | string | date | reference | number | quantity | uri | special _id/_lastUpdated
  modifier?: string;
  /** Alternatives joined by OR (comma-separated in the query). */
  values: string[];
  /** For a chained parameter: the referenced type and the filter applied to it. */
  chain?: { targetType: string; filter: Filter };
}

export interface Include {
  sourceType: string;
  param: string;
  targetType?: string;
  iterate: boolean;
}

export interface SearchRequest {
  resourceType: string;
  filters: Filter[];
  sort: { code: string; type: string; desc: boolean }[];
  count: number;
  offset: number;
  total: 'none' | 'estimate' | 'accurate';
  summary?: 'true' | 'text' | 'data' | 'count' | 'false';
  elements?: string[];
  include: Include[];
  revinclude: Include[];
  /** Parameters ignored in lenient mode, reported back to the caller. */
  ignored: string[];
}

export interface ParseOptions {
  strict: boolean;
  defaultCount: number;
  maxCount: number;
}

const RESULT_PARAMS = new Set([
  '_count', '_offset', '_sort', '_total', '_summary', '_elements', '_include', '_revinclude', '_format', '_pretty',
]);
const MODIFIERS: Record<string, Set<string>> = {
  token: new Set(['not', 'missing']),
  string: new Set(['exact', 'contains', 'missing']),
  date: new Set(['missing']),
  reference: new Set(['missing']),
  number: new Set(['missing']),
  quantity: new Set(['missing']),
  uri: new Set(['below', 'missing']),
  id: new Set(['missing', 'not']),
  lastUpdated: new Set(['missing']),
};

/** Splits a parameter value at unescaped commas and unescapes `\,` `\|` `\$` `\\`. */
export function splitValues(raw: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === '\\' && i + 1 < raw.length && ',$|\\'.includes(raw[i + 1])) {
      cur += c + raw[i + 1]; // keep the escape: token/quantity splitting honours `\|`
      i++;
    } else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/** Splits at unescaped pipes, then unescapes each part. */
export function splitPipes(v: string): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < v.length; i++) {
    if (v[i] === '\\' && i + 1 < v.length) {
      cur += v[i + 1];
      i++;
    } else if (v[i] === '|') {
      parts.push(cur);
      cur = '';
    } else cur += v[i];
  }
  parts.push(cur);
  return parts;
}

export const unescapeValue = (v: string): string => splitPipes(v).join('|');

/**
 * A token value's parts (R4 search.html#token): `code` alone (any system: `system` undefined),
 * `|code` (no system: `system` ''), `system|` (`code` ''), or `system|code`.
 */
export function splitToken(v: string): { system?: string; code: string } {
  const parts = splitPipes(v);
  return parts.length === 1 ? { code: parts[0] } : { system: parts[0], code: parts.slice(1).join('|') };
}

export function splitPrefix(v: string): { prefix: Prefix; rest: string } {
  const p = v.slice(0, 2) as Prefix;
  if (PREFIXES.has(p) && v.length > 2 && /[0-9-]/.test(v[2])) return { prefix: p, rest: v.slice(2) };
  return { prefix: 'eq', rest: v };
}

function paramFor(resourceType: string, code: string): { type: string; sp?: SearchParameter } | undefined {
  if (code === '_id') return { type: 'id' };
  if (code === '_lastUpdated') return { type: 'lastUpdated' };
  const sp = searchParametersFor(resourceType)[code];
  if (!sp || sp.type === 'composite' || sp.type === 'special') return undefined;
  return { type: sp.type as string, sp };
}

function parseFilter(resourceType: string, key: string, raw: string): Filter {
  const dot = key.indexOf('.');
  const head = dot >= 0 ? key.slice(0, dot) : key;
  const [code, modifier] = head.split(':', 2) as [string, string | undefined];
  const p = paramFor(resourceType, code);
  if (!p) throw outcomes.unknownSearchParameter(resourceType, code);
  if (dot >= 0) {
    if (p.type !== 'reference') throw outcomes.badRequest(`Parameter "${code}" is not a reference and cannot be chained`, [key]);
    const targets = (p.sp?.target ?? []) as string[];
    const targetType = modifier ?? (targets.length === 1 ? targets[0] : undefined);
    if (!targetType) {
      throw outcomes.badRequest(`Chained parameter "${code}" may refer to ${targets.join(', ')}: name one, e.g. ${code}:${targets[0]}.…`, [key]);
    }
    if (!isR4ResourceType(targetType) || !targets.includes(targetType)) {
      throw outcomes.badRequest(`"${targetType}" is not a target of ${resourceType}.${code}`, [key]);
    }
    return { code, type: 'reference', values: [], chain: { targetType, filter: parseFilter(targetType, key.slice(dot + 1), raw) } };
  }
  if (modifier !== undefined) {
    const typeModifier = p.type === 'reference' && isR4ResourceType(modifier);
    if (!typeModifier && !MODIFIERS[p.type]?.has(modifier)) {
      throw outcomes.badRequest(`Modifier ":${modifier}" is not supported on ${code} (${p.type})`, [key]);
    }
  }
  // PostgreSQL text cannot hold NUL; no FHIR value contains one.
  if (raw.includes('\u0000')) throw outcomes.badRequest(`${key} contains a NUL character`, [key]);
  const values = splitValues(raw);
  if (modifier === 'missing' && !['true', 'false'].includes(raw)) {
    throw outcomes.badRequest(`${key} must be true or false`, [key]);
  }
  for (const v of values) validateValue(p.type, key, v);
  return { code, type: p.type, modifier, values };
}

function validateValue(type: string, key: string, v: string): void {
  if (type === 'date' || type === 'lastUpdated') {
    const { rest } = splitPrefix(v);
    if (!/^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/.test(rest)) {
      throw outcomes.badRequest(`"${v}" is not a valid date for ${key}`, [key]);
    }
  } else if (type === 'number' || type === 'quantity') {
    const { rest } = splitPrefix(v);
    const num = splitPipes(rest)[0];
    if (!/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(num)) throw outcomes.badRequest(`"${v}" is not a valid number for ${key}`, [key]);
  }
}

function parseInclude(value: string, key: string, iterate: boolean): Include {
  const [sourceType, param, targetType] = value.split(':');
  if (!sourceType || !param || !isR4ResourceType(sourceType)) {
    throw outcomes.badRequest(`${key} must be Type:parameter[:targetType], got "${value}"`, [key]);
  }
  const sp = searchParametersFor(sourceType)[param];
  if (!sp || sp.type !== 'reference') throw outcomes.badRequest(`${sourceType}:${param} is not a reference search parameter`, [key]);
  if (targetType && (!isR4ResourceType(targetType) || !(sp.target ?? []).includes(targetType as never))) {
    throw outcomes.badRequest(`${targetType} is not a target of ${sourceType}:${param}`, [key]);
  }
  return { sourceType, param, targetType, iterate };
}

function intParam(key: string, v: string, min: number): number {
  if (!/^\d+$/.test(v) || Number(v) < min) throw outcomes.badRequest(`${key} must be an integer ≥ ${min}`, [key]);
  return Number(v);
}

/** Parses query pairs (repeats allowed, in order) for a search on `resourceType`. */
export function parseSearchRequest(resourceType: string, pairs: [string, string][], opts: ParseOptions): SearchRequest {
  const req: SearchRequest = {
    resourceType,
    filters: [],
    sort: [],
    count: opts.defaultCount,
    offset: 0,
    total: 'none',
    include: [],
    revinclude: [],
    ignored: [],
  };
  for (const [key, value] of pairs) {
    try {
      if (RESULT_PARAMS.has(key)) parseResultParam(req, key, value, opts);
      else if (key.startsWith('_include') || key.startsWith('_revinclude')) parseResultParam(req, key, value, opts);
      else req.filters.push(parseFilter(resourceType, key, value));
    } catch (err) {
      // Lenient handling (the default, R4 http.html#search): an unknown parameter is ignored
      // and reported; a known parameter with a bad value is always an error.
      const unknown = (err as { outcome?: { issue?: { code?: string }[] } }).outcome?.issue?.[0]?.code === 'not-supported';
      if (!opts.strict && unknown) req.ignored.push(key);
      else throw err;
    }
  }
  return req;
}

function parseResultParam(req: SearchRequest, key: string, value: string, opts: ParseOptions): void {
  switch (key) {
    case '_count':
      req.count = Math.min(intParam(key, value, 0), opts.maxCount);
      return;
    case '_offset':
      req.offset = intParam(key, value, 0);
      return;
    case '_total':
      if (!['none', 'estimate', 'accurate'].includes(value)) throw outcomes.badRequest('_total must be none, estimate or accurate', [key]);
      req.total = value as SearchRequest['total'];
      return;
    case '_summary':
      if (!['true', 'text', 'data', 'count', 'false'].includes(value)) throw outcomes.badRequest('_summary must be true, text, data, count or false', [key]);
      req.summary = value as SearchRequest['summary'];
      return;
    case '_elements':
      req.elements = value.split(',').map((e) => e.trim()).filter(Boolean);
      return;
    case '_sort':
      for (const s of value.split(',').filter(Boolean)) {
        const desc = s.startsWith('-');
        const code = desc ? s.slice(1) : s;
        const p = paramFor(req.resourceType, code);
        if (!p) throw outcomes.badRequest(`Cannot sort by unknown parameter "${code}"`, [key]);
        req.sort.push({ code, type: p.type, desc });
      }
      return;
    case '_include':
    case '_include:iterate':
      req.include.push(parseInclude(value, key, key.endsWith(':iterate')));
      return;
    case '_revinclude':
    case '_revinclude:iterate':
      req.revinclude.push(parseInclude(value, key, key.endsWith(':iterate')));
      return;
    case '_format':
    case '_pretty':
      return;
    default:
      throw outcomes.unknownSearchParameter(req.resourceType, key);
  }
}
