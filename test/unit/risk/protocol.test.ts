// The shared risk protocol file: checked against its schema and the rules the schema cannot
// express; the published CodeSystem names the same protocol and version.
import { readFileSync } from 'node:fs';
import type { CodeSystem } from '@medplum/fhirtypes';
import { loadProtocol, parseProtocol, ProtocolError, type RiskProtocol } from '../../../src/risk/protocol.js';

const shipped = (): RiskProtocol => structuredClone(loadProtocol());

describe('shared risk protocol file', () => {
  it('loads the shipped protocol: versioned, effective, every rule citing its clinical basis', () => {
    const p = loadProtocol();
    expect(p).toMatchObject({ id: 'lead-shared-falls-risk', status: 'active' });
    expect(p.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(p.effectiveDate).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    for (const rule of p.rules) expect(rule.basis.citation.length).toBeGreaterThan(20);
    expect(p.rules.some((r) => /STEADI/.test(r.basis.citation))).toBe(true);
  });

  it('is what profiles/CodeSystem-shared-risk-protocol.json publishes (rerun build-risk-profiles.mjs when it changes)', () => {
    const p = loadProtocol();
    const cs = JSON.parse(readFileSync('profiles/CodeSystem-shared-risk-protocol.json', 'utf8')) as CodeSystem;
    expect(cs.url).toBe('https://lead-gateway.example.org/fhir/CodeSystem/shared-risk-protocol');
    expect(cs.version).toBe(p.version);
    expect(cs.concept?.map((c) => c.code)).toEqual([p.id]);
  });

  it.each([
    ['an unknown fact', (p: RiskProtocol) => Object.assign(p.rules[0], { when: { fact: 'shoeSize', gte: 9 } }), /rules\/0\/when/],
    ['a rule without its clinical basis', (p: RiskProtocol) => delete (p.rules[0] as Partial<RiskProtocol['rules'][0]>).basis, /basis/],
    ['a version that is not semantic', (p: RiskProtocol) => (p.version = 'v1'), /\/version/],
    ['a condition with two comparisons', (p: RiskProtocol) => Object.assign(p.rules[0], { when: { fact: 'recentFall', equals: true, gte: 1 } }), /when/],
    ['an unknown property', (p: RiskProtocol) => Object.assign(p, { threshold: 3 }), /additional properties/],
  ])('rejects %s', (_what, change, message) => {
    const p = shipped();
    change(p);
    expect(() => parseProtocol(p, 'test.json')).toThrow(ProtocolError);
    expect(() => parseProtocol(p, 'test.json')).toThrow(message);
  });

  it('rejects duplicate rule ids, a high threshold not above medium, and a retired protocol', () => {
    const dup = shipped();
    dup.rules.push({ ...dup.rules[0] });
    expect(() => parseProtocol(dup)).toThrow(/not unique/);
    const tiers = shipped();
    tiers.tiers.high.minScore = tiers.tiers.medium.minScore;
    expect(() => parseProtocol(tiers)).toThrow(/high\/minScore must be above/);
    const retired = shipped();
    retired.status = 'retired';
    expect(() => parseProtocol(retired)).toThrow(/retired/);
  });

  it('names the file when it is missing or not JSON', () => {
    expect(() => loadProtocol('/nonexistent/protocol.json')).toThrow(/Invalid risk protocol \/nonexistent\/protocol.json/);
  });
});
