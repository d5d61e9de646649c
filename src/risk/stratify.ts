// The protocol applied to one person's facts: pure, no clock, no I/O.
import type { Tier } from './codes.js';
import type { Condition, FactName, FactValue, RiskProtocol } from './protocol.js';

export interface RiskInputs {
  /** Every fact of the protocol; null = no current input says (a comparison on it is false). */
  facts: Record<FactName, FactValue>;
  /** The resources (Type/id) each fact was computed from. */
  evidence: Partial<Record<FactName, string[]>>;
}

export interface RuleFired {
  id: string;
  points: number;
}

export interface Stratification {
  tier: Tier;
  score: number;
  /** Every input resource considered (sorted, unique): RiskAssessment.basis. */
  basis: string[];
  rulesFired: RuleFired[];
}

const TIER_ORDER: Tier[] = ['low', 'medium', 'high'];

export function evaluate(condition: Condition, facts: Record<FactName, FactValue>): boolean {
  if ('all' in condition) return condition.all.every((c) => evaluate(c, facts));
  if ('any' in condition) return condition.any.some((c) => evaluate(c, facts));
  const value = facts[condition.fact];
  if (value === null || value === undefined) return false;
  if ('equals' in condition) return value === condition.equals;
  if ('in' in condition) return condition.in.includes(value as string | number);
  if (typeof value !== 'number') return false;
  if ('gte' in condition) return value >= condition.gte;
  return value <= condition.lte;
}

export function tierOfScore(protocol: RiskProtocol, score: number): Tier {
  if (score >= protocol.tiers.high.minScore) return 'high';
  if (score >= protocol.tiers.medium.minScore) return 'medium';
  return 'low';
}

export function stratify(protocol: RiskProtocol, inputs: RiskInputs): Stratification {
  const rulesFired = protocol.rules.filter((r) => evaluate(r.when, inputs.facts)).map((r) => ({ id: r.id, points: r.points }));
  const score = rulesFired.reduce((sum, r) => sum + r.points, 0);
  let tier = tierOfScore(protocol, score);
  for (const fired of rulesFired) {
    const floor = protocol.rules.find((r) => r.id === fired.id)?.minimumTier;
    if (floor && TIER_ORDER.indexOf(floor) > TIER_ORDER.indexOf(tier)) tier = floor;
  }
  const basis = [...new Set(Object.values(inputs.evidence).flatMap((refs) => refs ?? []))].sort();
  return { tier, score, basis, rulesFired };
}
