// Each rule of the shipped protocol alone, the tier thresholds, the minimum-tier rule, and the
// condition grammar (pure: facts in, tier out).
import { loadProtocol, type FactName, type FactValue } from '../../../src/risk/protocol.js';
import { evaluate, stratify, tierOfScore, type RiskInputs } from '../../../src/risk/stratify.js';
import { EMPTY_FACTS } from '../../../src/risk/risk-inputs.js';

const protocol = loadProtocol();
const NONE = EMPTY_FACTS;
const inputs = (facts: Partial<Record<FactName, FactValue>>, evidence: RiskInputs['evidence'] = {}): RiskInputs => ({ facts: { ...NONE, ...facts }, evidence });

describe('shared risk protocol rules (each alone)', () => {
  it.each<[string, Partial<Record<FactName, FactValue>>, string[], number, string]>([
    ['a positive latest falls screen', { fallsScreenPositive: true, fallsScreenBand: 'high' }, ['falls-screen-positive'], 3, 'medium'],
    ['an active at-risk-for-falls Condition', { fallRiskConditionActive: true }, ['falls-screen-positive'], 3, 'medium'],
    ['a fall in the past year', { recentFall: true }, ['recent-fall'], 2, 'medium'],
    ['a fall with injury (high whatever the score)', { recentFallWithInjury: true }, ['injurious-or-repeated-falls'], 2, 'high'],
    ['two or more falls (high whatever the score)', { recentFallsTwoOrMore: true }, ['injurious-or-repeated-falls'], 2, 'high'],
    ['dependency in 2 ADL items', { adlDependencyCount: 2 }, ['adl-dependency'], 2, 'medium'],
    ['hands-on help walking or transferring', { mobilityAssistance: true }, ['mobility-assistance'], 1, 'low'],
    ['polypharmacy', { polypharmacy: true, concurrentMedications: 6 }, ['polypharmacy'], 1, 'low'],
    ['one FRID class', { fridClassCount: 1 }, ['frid'], 1, 'low'],
    ['two FRID classes', { fridClassCount: 2 }, ['frid', 'multiple-frid'], 2, 'medium'],
  ])('%s', (_what, facts, fired, score, tier) => {
    const r = stratify(protocol, inputs(facts));
    expect(r.rulesFired.map((x) => x.id)).toEqual(fired);
    expect(r.score).toBe(score);
    expect(r.tier).toBe(tier);
  });

  it('fires nothing on negative or absent inputs', () => {
    const negative = inputs({
      fallsScreenPositive: false,
      fallsScreenBand: 'low',
      fallRiskConditionActive: false,
      recentFall: false,
      recentFallWithInjury: false,
      recentFallsTwoOrMore: false,
      adlDependencyCount: 1,
      mobilityAssistance: false,
      polypharmacy: false,
      concurrentMedications: 4,
      fridClassCount: 0,
    });
    expect(stratify(protocol, negative)).toMatchObject({ tier: 'low', score: 0, rulesFired: [] });
    expect(stratify(protocol, inputs({}))).toMatchObject({ tier: 'low', score: 0, rulesFired: [], basis: [] });
  });

  it('every rule of the protocol is covered by a case above', () => {
    expect(protocol.rules.map((r) => r.id).sort()).toEqual(
      ['adl-dependency', 'falls-screen-positive', 'frid', 'injurious-or-repeated-falls', 'mobility-assistance', 'multiple-frid', 'polypharmacy', 'recent-fall'].sort(),
    );
  });
});

describe('tiers', () => {
  it('low below 2, medium from 2, high from 5 (the protocol thresholds)', () => {
    expect([0, 1, 2, 4, 5, 12].map((s) => tierOfScore(protocol, s))).toEqual(['low', 'low', 'medium', 'medium', 'high', 'high']);
  });

  it('adds the points of every rule that fired: screen + fall + polypharmacy = 6 → high', () => {
    const r = stratify(protocol, inputs({ fallsScreenPositive: true, recentFall: true, polypharmacy: true }));
    expect(r).toMatchObject({ score: 6, tier: 'high' });
    expect(r.rulesFired).toEqual([
      { id: 'falls-screen-positive', points: 3 },
      { id: 'recent-fall', points: 2 },
      { id: 'polypharmacy', points: 1 },
    ]);
  });

  it('scores 4 as medium (one below high) and 1 as low (one below medium)', () => {
    expect(stratify(protocol, inputs({ fallsScreenPositive: true, mobilityAssistance: true }))).toMatchObject({ score: 4, tier: 'medium' });
    expect(stratify(protocol, inputs({ polypharmacy: true }))).toMatchObject({ score: 1, tier: 'low' });
  });

  it('basis is every input considered, once, sorted', () => {
    const r = stratify(
      protocol,
      inputs({ polypharmacy: false, fallsScreenPositive: true }, { polypharmacy: ['Observation/b', 'Observation/a'], fallsScreenPositive: ['RiskAssessment/r', 'Observation/a'] }),
    );
    expect(r.basis).toEqual(['Observation/a', 'Observation/b', 'RiskAssessment/r']);
  });
});

describe('condition grammar', () => {
  const facts = { ...NONE, fallsScreenBand: 'moderate', adlDependencyCount: 3, polypharmacy: true };
  it.each([
    [{ fact: 'fallsScreenBand', in: ['moderate', 'high'] }, true],
    [{ fact: 'fallsScreenBand', equals: 'low' }, false],
    [{ fact: 'adlDependencyCount', gte: 3 }, true],
    [{ fact: 'adlDependencyCount', lte: 2 }, false],
    [{ fact: 'recentFall', equals: false }, false], // unknown never matches, not even "false"
    [{ all: [{ fact: 'polypharmacy', equals: true }, { fact: 'adlDependencyCount', gte: 1 }] }, true],
    [{ all: [{ fact: 'polypharmacy', equals: true }, { fact: 'recentFall', equals: true }] }, false],
    [{ any: [{ fact: 'recentFall', equals: true }, { fact: 'polypharmacy', equals: true }] }, true],
    [{ fact: 'polypharmacy', gte: 1 }, false], // a number comparison on a boolean is false
  ] as const)('%j → %s', (condition, expected) => {
    expect(evaluate(condition as never, facts)).toBe(expected);
  });
});
