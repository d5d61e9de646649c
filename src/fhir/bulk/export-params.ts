// Kick-off parameters (Bulk Data v2.0.0 export.md "Query Parameters"): parsed and checked once at
// kick-off, stored with the job, re-read by the worker. Pure: no I/O.
import type { Parameters } from '@medplum/fhirtypes';
import { isR4ResourceType } from '../definitions.js';
import { parseSearchRequest, type SearchRequest } from '../search/search-request.js';
import { bulkOutcomes } from './outcomes.js';
import { patientCompartmentParams } from './patient-compartment.js';

export const OUTPUT_FORMATS = ['application/fhir+ndjson', 'application/ndjson', 'ndjson'];

export type ExportLevel = { kind: 'system' } | { kind: 'patient' } | { kind: 'group'; groupId: string };

export interface ExportParams {
  /** FHIR instant, normalised to ISO 8601 UTC. */
  since?: string;
  /** `_type` as asked (checked against the compartment and the scopes by the caller). */
  types?: string[];
  /** `_typeFilter` criteria, `Type?query`, each checked with the search parser. */
  typeFilters: string[];
  elements?: string[];
  /** Patient ids from `patient` (Patient- and Group-level only). */
  patients?: string[];
  /** Parameters ignored under lenient handling: one OperationOutcome each in the error file. */
  ignored: { name: string; reason: string }[];
}

const KNOWN = new Set(['_outputFormat', '_since', '_type', '_typeFilter', '_elements', 'patient', 'includeAssociatedData']);
/** Spelled in the spec but not offered here: a clear "not supported", never silence. */
const NOT_SUPPORTED: Record<string, string> = {
  includeAssociatedData:
    'associated data is not offered; Provenance in the patient compartment is exported like any other type when _type allows it',
  _until: 'a Bulk Data STU3 parameter; use _since',
  organizeOutputBy: 'a Bulk Data STU3 parameter; output is organised by resource type',
  allowPartialManifests: 'a Bulk Data STU3 parameter; the manifest is returned whole',
};
const ELEMENT_RE = /^(?:[A-Z][A-Za-z]+\.)?[a-z][A-Za-z0-9]*$/;
const INSTANT_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/;
/** Criteria are split at a comma that starts a new `Type?`: commas inside a query stay put. */
const TYPE_FILTER_SPLIT = /,(?=[A-Z][A-Za-z]+\?)/;
const SEARCH_RESULT_PARAMS = new Set(['_include', '_revinclude', '_sort', '_count', '_offset', '_total', '_summary', '_elements', '_contained', '_containedType']);

/** GET query pairs or a POST Parameters body → name/value pairs. */
export function parametersToPairs(body: unknown): [string, string][] {
  const p = body as Parameters | undefined;
  if (!p || p.resourceType !== 'Parameters') throw bulkOutcomes.invalidParameter('body', 'a POST kick-off carries a Parameters resource');
  const out: [string, string][] = [];
  for (const param of p.parameter ?? []) {
    const v = param as unknown as Record<string, unknown>;
    const ref = (v.valueReference as { reference?: string } | undefined)?.reference;
    const value =
      ref ??
      Object.entries(v)
        .filter(([k, x]) => k.startsWith('value') && (typeof x === 'string' || typeof x === 'boolean' || typeof x === 'number'))
        .map(([, x]) => String(x))[0];
    if (!param.name || value === undefined) throw bulkOutcomes.invalidParameter(param.name ?? 'parameter', 'needs a name and a primitive or Reference value');
    out.push([param.name, value]);
  }
  return out;
}

/**
 * Repeated parameters become one comma-joined value (export.md: "treated as a comma-delimited
 * list"). Unsupported ones are a 400 under `Prefer: handling=strict`, otherwise ignored and
 * reported. Invalid values (a bad `_since`, a `_typeFilter` we cannot apply) are always a 400:
 * ignoring them would export more than was asked.
 */
export function parseExportParams(pairs: [string, string][], level: ExportLevel, strict: boolean): ExportParams {
  const merged = new Map<string, string>();
  const ignored: ExportParams['ignored'] = [];
  for (const [k, v] of pairs) {
    if (!KNOWN.has(k) || NOT_SUPPORTED[k]) {
      const reason = NOT_SUPPORTED[k] ?? 'unknown parameter';
      if (strict) throw bulkOutcomes.unsupportedParameter(k, reason);
      if (!ignored.some((i) => i.name === k)) ignored.push({ name: k, reason });
      continue;
    }
    merged.set(k, merged.has(k) ? `${merged.get(k)},${v}` : v);
  }
  const out: ExportParams = { typeFilters: [], ignored };

  const format = merged.get('_outputFormat');
  if (format !== undefined && !format.split(',').every((f) => OUTPUT_FORMATS.includes(f.trim()))) {
    throw bulkOutcomes.unsupportedParameter('_outputFormat', `"${format}"; use one of ${OUTPUT_FORMATS.join(', ')}`);
  }

  const since = merged.get('_since');
  if (since !== undefined) {
    // An unencoded "+" in a query string arrives as a space (Inferno sends +00:00 offsets).
    const v = since.trim().replace(/ (\d{2}:\d{2})$/, '+$1');
    if (!INSTANT_RE.test(v) || Number.isNaN(Date.parse(v))) throw bulkOutcomes.invalidParameter('_since', `"${since}" is not a FHIR instant`);
    out.since = new Date(v).toISOString();
  }

  const type = merged.get('_type');
  if (type !== undefined) {
    const types = [...new Set(type.split(',').map((t) => t.trim()).filter(Boolean))];
    for (const t of types) if (!isR4ResourceType(t)) throw bulkOutcomes.invalidParameter('_type', `"${t}" is not an R4 resource type`);
    out.types = types;
  }

  const typeFilter = merged.get('_typeFilter');
  if (typeFilter !== undefined) {
    out.typeFilters = typeFilter.split(TYPE_FILTER_SPLIT).map((c) => c.trim()).filter(Boolean);
    for (const c of out.typeFilters) typeFilterRequest(c);
  }

  const elements = merged.get('_elements');
  if (elements !== undefined) {
    out.elements = elements.split(',').map((e) => e.trim()).filter(Boolean);
    for (const e of out.elements) if (!ELEMENT_RE.test(e)) throw bulkOutcomes.invalidParameter('_elements', `"${e}" is not a top-level element`);
  }

  const patient = merged.get('patient');
  if (patient !== undefined) {
    if (level.kind === 'system') throw bulkOutcomes.invalidParameter('patient', 'only for Patient- and Group-level export');
    out.patients = patient.split(',').map((ref) => {
      const m = /^(?:.*\/)?Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(ref.trim());
      if (!m) throw bulkOutcomes.invalidParameter('patient', `"${ref}" is not a Patient reference`);
      return m[1];
    });
  }
  return out;
}

/**
 * One `_typeFilter` criterion as a search request on its type, parsed strictly with the REST
 * search grammar (so it becomes the same SQL); result parameters are refused (export.md).
 */
export function typeFilterRequest(criterion: string): SearchRequest {
  const q = criterion.indexOf('?');
  const type = q > 0 ? criterion.slice(0, q) : '';
  if (!isR4ResourceType(type)) throw bulkOutcomes.invalidParameter('_typeFilter', `"${criterion}" must be [ResourceType]?[search query]`);
  const pairs = [...new URLSearchParams(criterion.slice(q + 1))];
  for (const [k] of pairs) {
    if (SEARCH_RESULT_PARAMS.has(k)) throw bulkOutcomes.invalidParameter('_typeFilter', `${k} is not allowed in a _typeFilter`);
  }
  if (!pairs.length) throw bulkOutcomes.invalidParameter('_typeFilter', `"${criterion}" has no search criteria`);
  return parseSearchRequest(type, pairs, { strict: true, defaultCount: 1, maxCount: 1 });
}

/** True when the type can be in a patient compartment (or is Patient). */
export const inPatientCompartment = (type: string): boolean => patientCompartmentParams().has(type);
