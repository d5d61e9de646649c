// The sensitivity value sets the labeler matches codes against: versioned JSON files in
// profiles/valuesets/ (each names its sources and verification status), parsed once.
//
// Matching normalises what real data gets wrong (consent-security.md §3.1 "Normalization"):
// system aliases and OIDs, ICD-10-CM with or without the dot, trailing spaces, and ICD-10-CM /
// NDC by prefix (F11.2 covers every F11.2x). A code's confidence below the file's threshold
// labels only when another code of the same file corroborates it (methadone alone may be pain).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ValueSetRule {
  system: string;
  match: 'exact' | 'prefix';
  codes: string[];
  confidence?: number;
  /** Extra ActCode labels for this rule (e.g. OPIOIDUD for F11). */
  labels?: string[];
}

export interface SensitivityValueSet {
  id: string;
  version: string;
  title: string;
  labels: string[];
  sources: string[];
  threshold: number;
  include: ValueSetRule[];
  exclude: ValueSetRule[];
}

export interface CodeMatch {
  valueSet: SensitivityValueSet;
  confidence: number;
  labels: string[];
}

// Canonical key per code system; aliases seen in claims and in other labelers' lists.
const SYSTEM_ALIASES: Record<string, string> = {
  'http://hl7.org/fhir/sid/icd-10-cm': 'icd10cm',
  'urn:oid:2.16.840.1.113883.6.90': 'icd10cm',
  'http://hl7.org/fhir/sid/icd-10': 'icd10cm',
  'http://snomed.info/sct': 'snomed',
  'urn:oid:2.16.840.1.113883.6.96': 'snomed',
  'http://www.nlm.nih.gov/research/umls/rxnorm': 'rxnorm',
  'urn:oid:2.16.840.1.113883.6.88': 'rxnorm',
  'http://hl7.org/fhir/sid/ndc': 'ndc',
  'urn:oid:2.16.840.1.113883.6.69': 'ndc',
  'http://www.ama-assn.org/go/cpt': 'cpt',
  'urn:oid:2.16.840.1.113883.6.12': 'cpt',
  'https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets': 'hcpcs',
  'http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets': 'hcpcs',
  'urn:oid:2.16.840.1.113883.6.285': 'hcpcs',
  'http://loinc.org': 'loinc',
};

export const systemKey = (system: string | undefined): string | undefined =>
  system === undefined ? undefined : SYSTEM_ALIASES[system.trim()] ?? system.trim();

export function normalizeCode(key: string, code: string): string {
  const c = code.trim().toUpperCase();
  if (key === 'icd10cm') return c.replace(/\./g, '');
  if (key === 'ndc' || key === 'cpt' || key === 'hcpcs') return c.replace(/-/g, '');
  return c;
}

export class ValueSetIndex {
  private readonly exact = new Map<string, { vs: SensitivityValueSet; rule: ValueSetRule }[]>();
  private readonly prefixes = new Map<string, { prefix: string; vs: SensitivityValueSet; rule: ValueSetRule; exclude: boolean }[]>();

  constructor(readonly valueSets: SensitivityValueSet[]) {
    for (const vs of valueSets) {
      for (const [rules, exclude] of [[vs.include, false], [vs.exclude, true]] as const) {
        for (const rule of rules) {
          const key = systemKey(rule.system) as string;
          for (const raw of rule.codes) {
            const code = normalizeCode(key, raw);
            if (rule.match === 'prefix') {
              const list = this.prefixes.get(key) ?? [];
              list.push({ prefix: code, vs, rule, exclude });
              this.prefixes.set(key, list);
            } else if (!exclude) {
              const k = `${key}|${code}`;
              this.exact.set(k, [...(this.exact.get(k) ?? []), { vs, rule }]);
            }
          }
        }
      }
    }
    // Longest prefix first, so an exclusion (F17) beats a broader inclusion.
    for (const list of this.prefixes.values()) list.sort((a, b) => b.prefix.length - a.prefix.length);
  }

  /** Every value set this coding falls in. */
  match(system: string | undefined, code: string | undefined): CodeMatch[] {
    const key = systemKey(system);
    if (!key || typeof code !== 'string') return [];
    const c = normalizeCode(key, code);
    const out: CodeMatch[] = [];
    for (const { vs, rule } of this.exact.get(`${key}|${c}`) ?? []) out.push(toMatch(vs, rule));
    const seen = new Set<string>();
    for (const p of this.prefixes.get(key) ?? []) {
      if (seen.has(p.vs.id) || !c.startsWith(p.prefix)) continue;
      seen.add(p.vs.id); // the longest matching prefix decides for this value set
      if (!p.exclude) out.push(toMatch(p.vs, p.rule));
    }
    return out;
  }

  /** Versions of the loaded value sets, for the label provenance tag. */
  get version(): string {
    return this.valueSets.map((v) => `${v.id}@${v.version}`).sort().join(',');
  }
}

const toMatch = (vs: SensitivityValueSet, rule: ValueSetRule): CodeMatch => ({
  valueSet: vs,
  confidence: rule.confidence ?? 1,
  labels: [...vs.labels, ...(rule.labels ?? [])],
});

export const DEFAULT_VALUE_SET_DIR = new URL('../../profiles/valuesets', import.meta.url).pathname;

/** Reads every *.json in `dir`; throws naming the file when one is malformed. */
export function loadValueSets(dir = DEFAULT_VALUE_SET_DIR): ValueSetIndex {
  const sets: SensitivityValueSet[] = [];
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.json')).sort()) {
    const vs = JSON.parse(readFileSync(join(dir, f), 'utf8')) as SensitivityValueSet;
    if (!vs.id || !vs.version || !Array.isArray(vs.labels) || !Array.isArray(vs.include) || !Array.isArray(vs.sources)) {
      throw new Error(`Invalid sensitivity value set ${f}: needs id, version, labels, sources, include`);
    }
    sets.push({ ...vs, exclude: vs.exclude ?? [], threshold: vs.threshold ?? 0.7 });
  }
  return new ValueSetIndex(sets);
}
