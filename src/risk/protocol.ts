// The shared risk stratification protocol (RISK_PROTOCOL_FILE, default
// config/risk/shared-risk-protocol.json): which facts score how many points, and the tier
// thresholds. Both partners agree on one version (docs/risk-stratification.md). Read and checked
// once at start against config/risk/shared-risk-protocol.schema.json; a bad file stops start-up
// with the JSON path and the reason.
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';
import type { Tier } from './codes.js';

/** The facts a rule may test (computed by risk-inputs.ts). */
export const FACTS = [
  'fallsScreenPositive',
  'fallsScreenBand',
  'fallRiskConditionActive',
  'recentFall',
  'recentFallWithInjury',
  'recentFallsTwoOrMore',
  'adlDependencyCount',
  'mobilityAssistance',
  'polypharmacy',
  'concurrentMedications',
  'fridClassCount',
] as const;
export type FactName = (typeof FACTS)[number];
export type FactValue = boolean | number | string | null;

export type Condition =
  | { all: Condition[] }
  | { any: Condition[] }
  | { fact: FactName; equals: boolean | number | string }
  | { fact: FactName; gte: number }
  | { fact: FactName; lte: number }
  | { fact: FactName; in: (string | number)[] };

export interface ProtocolRule {
  id: string;
  title: string;
  points: number;
  /** The tier is at least this when the rule fires, whatever the score. */
  minimumTier?: Exclude<Tier, 'low'>;
  when: Condition;
  basis: { citation: string; url?: string; evidence: 'V' | 'P' };
}

export interface RiskProtocol {
  id: string;
  version: string;
  effectiveDate: string;
  title: string;
  status: 'draft' | 'active' | 'retired';
  description?: string;
  approvals?: { organization: string; date: string; note?: string }[];
  /** How old an input may be (days before the computation date) and still count. */
  lookbackDays: { fallsScreen: number; functionalAssessment: number; medicationRisk: number };
  rules: ProtocolRule[];
  tiers: { high: { minScore: number }; medium: { minScore: number } };
}

export class ProtocolError extends Error {
  constructor(file: string, problems: string[]) {
    super(`Invalid risk protocol ${file}: ${problems.join('; ')}`);
    this.name = 'ProtocolError';
  }
}

export const DEFAULT_PROTOCOL_FILE = new URL('../../config/risk/shared-risk-protocol.json', import.meta.url).pathname;
const SCHEMA_URL = new URL('../../config/risk/shared-risk-protocol.schema.json', import.meta.url);
let compiled: ReturnType<Ajv['compile']> | undefined;

function schemaProblems(data: unknown): string[] {
  if (!compiled) {
    const ajv = new Ajv({ allErrors: true, strict: false });
    addFormats.default(ajv);
    compiled = ajv.compile(JSON.parse(readFileSync(SCHEMA_URL, 'utf8')));
  }
  if (compiled(data)) return [];
  return (compiled.errors ?? []).map((e: ErrorObject) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`);
}

/** What the schema cannot say: unique rule ids, high above medium, an active protocol in force. */
function crossCheck(p: RiskProtocol): string[] {
  const problems: string[] = [];
  const ids = new Set<string>();
  p.rules.forEach((r, i) => {
    if (ids.has(r.id)) problems.push(`/rules/${i}/id "${r.id}" is not unique`);
    ids.add(r.id);
  });
  if (p.tiers.high.minScore <= p.tiers.medium.minScore) problems.push('/tiers/high/minScore must be above /tiers/medium/minScore');
  if (p.status === 'retired') problems.push('/status a retired protocol cannot be used');
  return problems;
}

/** Checks a parsed protocol; throws ProtocolError naming every problem. */
export function parseProtocol(data: unknown, file = 'protocol'): RiskProtocol {
  const problems = schemaProblems(data);
  if (problems.length) throw new ProtocolError(file, problems);
  const p = data as RiskProtocol;
  const more = crossCheck(p);
  if (more.length) throw new ProtocolError(file, more);
  return p;
}

export function loadProtocol(file: string = DEFAULT_PROTOCOL_FILE): RiskProtocol {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ProtocolError(file, [(err as Error).message]);
  }
  return parseProtocol(data, file);
}
