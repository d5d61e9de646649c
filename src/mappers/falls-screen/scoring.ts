// Scores and risk decisions for each falls instrument, recomputed from the item answers
// (the supplied totals are checked against these, never trusted).
import { INSTRUMENTS, type RiskBand, type Tool } from './instruments.js';

export interface ScreenOutcome {
  /** Recomputed total (STEADI Stay Independent, Morse); TUG seconds for TUG. */
  score?: number;
  band: RiskBand;
  /** True = at increased risk for falls (a Condition is asserted). */
  atRisk: boolean;
}

/** STEADI SI: ≥ 4 may be at risk. TUG: ≥ 12 s. STEADI 3Q: any yes. */
export const STEADI_SI_AT_RISK = 4;
export const TUG_AT_RISK_SECONDS = 12;

export function itemPoints(tool: Tool, itemId: string, response: string): number {
  const item = INSTRUMENTS[tool].items.find((i) => i.id === itemId);
  return item?.answers?.[response]?.points ?? 0;
}

/** Morse bands from LOINC LL905-1: 0-24 low, 25-45 moderate, ≥ 50 high (scores are multiples of 5). */
export function morseBand(total: number): RiskBand {
  if (total >= 50) return 'high';
  if (total >= 25) return 'moderate';
  return 'low';
}

export function scoreScreen(tool: Tool, answers: Map<string, string>, tugSeconds?: number): ScreenOutcome {
  switch (tool) {
    case 'STEADI_3Q': {
      const atRisk = [...answers.values()].some((r) => r === 'Y');
      return { band: atRisk ? 'high' : 'low', atRisk };
    }
    case 'STEADI_SI12': {
      const score = sum(tool, answers);
      const atRisk = score >= STEADI_SI_AT_RISK;
      return { score, band: atRisk ? 'high' : 'low', atRisk };
    }
    case 'TUG': {
      const atRisk = (tugSeconds ?? 0) >= TUG_AT_RISK_SECONDS;
      return { score: tugSeconds, band: atRisk ? 'high' : 'low', atRisk };
    }
    case 'MORSE': {
      const score = sum(tool, answers);
      const band = morseBand(score);
      // Moderate and high both mean more than the baseline risk: we assert the finding from 25 up.
      return { score, band, atRisk: band !== 'low' };
    }
    case 'MDS_J': {
      const fell = ['J1700A', 'J1700B', 'J1800'].some((id) => answers.get(id) === '1');
      const falls = ['J1900A', 'J1900B', 'J1900C'].some((id) => (answers.get(id) ?? '0') !== '0');
      const atRisk = fell || falls;
      return { band: atRisk ? 'high' : 'low', atRisk };
    }
  }
}

function sum(tool: Tool, answers: Map<string, string>): number {
  let total = 0;
  for (const [id, response] of answers) total += itemPoints(tool, id, response);
  return total;
}
