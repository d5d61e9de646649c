// Data classes: which agreement data class (hcbs-assessment, medications, falls-risk,
// eligibility, …) a committed resource belongs to. The rules are data
// (config/exchange/data-classes.json, documented in docs/exchange.md), loaded once at start.
import { readFileSync } from 'node:fs';
import type { Resource } from '@medplum/fhirtypes';
import { LEAD_CANONICAL } from '../mappers/common/systems.js';

export interface DataClassRule {
  dataClass: string;
  resourceTypes?: string[];
  sourceLayouts?: string[];
  profiles?: string[];
}

export interface DataClassRules {
  rules: DataClassRule[];
  /** Types that are context (sent along with a delivery), never a delivery's reason. */
  neverRouted: string[];
}

/** What ingest stamps on every resource it owns: IDENTIFIER.sourceRecord(org, layout). */
const SOURCE_ID_PREFIX = `${LEAD_CANONICAL}/sid/source/`;

/** The (org, layout) of the source-record identifiers a resource carries. */
export function sourceRecordOf(resource: Resource): { sourceOrg: string; layout: string } | undefined {
  const ids = (resource as { identifier?: unknown }).identifier;
  for (const id of Array.isArray(ids) ? ids : ids ? [ids] : []) {
    const system = (id as { system?: unknown }).system;
    if (typeof system !== 'string' || !system.startsWith(SOURCE_ID_PREFIX)) continue;
    const [org, layout] = system.slice(SOURCE_ID_PREFIX.length).split('/');
    if (org && layout) return { sourceOrg: decodeURIComponent(org), layout };
  }
  return undefined;
}

export function dataClassOf(rules: DataClassRules, resource: Resource): string | undefined {
  if (rules.neverRouted.includes(resource.resourceType)) return undefined;
  const layout = sourceRecordOf(resource)?.layout;
  const profiles = resource.meta?.profile ?? [];
  for (const r of rules.rules) {
    if (r.resourceTypes && !r.resourceTypes.includes(resource.resourceType)) continue;
    if (r.sourceLayouts && (!layout || !r.sourceLayouts.includes(layout))) continue;
    if (r.profiles && !r.profiles.some((p) => profiles.includes(p))) continue;
    return r.dataClass;
  }
  return undefined;
}

export function parseDataClassRules(data: unknown, source = 'data-classes file'): DataClassRules {
  const d = data as Partial<DataClassRules> | undefined;
  const bad = (why: string): never => {
    throw new Error(`Invalid ${source}: ${why}`);
  };
  if (!d || !Array.isArray(d.rules)) return bad('/rules must be an array');
  const strings = (v: unknown, at: string): void => {
    if (v !== undefined && (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))) bad(`${at} must be an array of strings`);
  };
  d.rules.forEach((r, i) => {
    if (!r || typeof r.dataClass !== 'string' || !r.dataClass) bad(`/rules/${i}/dataClass is required`);
    strings(r.resourceTypes, `/rules/${i}/resourceTypes`);
    strings(r.sourceLayouts, `/rules/${i}/sourceLayouts`);
    strings(r.profiles, `/rules/${i}/profiles`);
    if (!r.resourceTypes && !r.sourceLayouts && !r.profiles) bad(`/rules/${i} matches everything: name resourceTypes, sourceLayouts or profiles`);
  });
  strings(d.neverRouted, '/neverRouted');
  return { rules: d.rules, neverRouted: d.neverRouted ?? [] };
}

export function loadDataClassRules(path: string): DataClassRules {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`Invalid data-classes file ${path}: ${(err as Error).message}`);
  }
  return parseDataClassRules(data, `data-classes file ${path}`);
}
