// The default disclosure policy (POLICY_FILE, config/policy.json): the consent-security.md §2.6
// matrix as data, read and checked once at start. src/consent/decision-point.ts enforces it.
import { readFileSync } from 'node:fs';
import type { OrganizationType } from './partners.js';

export type PurposeClass = 'treatment' | 'emergency' | 'payment' | 'operations' | 'publicHealth' | 'research' | 'marketing';
const PURPOSE_CLASSES: PurposeClass[] = ['treatment', 'emergency', 'payment', 'operations', 'publicHealth', 'research', 'marketing'];

export interface StatePolicy {
  protected: string[];
  withoutConsent: Record<string, PurposeClass[]>;
}

export interface DisclosurePolicy {
  version: string;
  uri: string;
  purposeClasses: Record<string, PurposeClass>;
  normal: { permit: PurposeClass[]; consentRequired: PurposeClass[] };
  part2: { emergencyPermittedFor: OrganizationType[]; neverFor: OrganizationType[]; consentRequired: boolean; refrains: string[]; notice: string };
  states: Record<string, StatePolicy>;
  defaultState: string;
  alwaysDeny: {
    confidentiality: string[];
    labels: string[];
    selfPayToPlans: { label: string; organizationTypes: OrganizationType[]; purposes: PurposeClass[] };
  };
  restrictedTypes: Record<string, OrganizationType[]>;
  obligations: { dropNarrative: boolean; scrubReferenceDisplay: boolean };
  clearedClients: { clientIds: string[] };
}

/** Checks the shape the decision point relies on; throws naming the first problem. */
export function parsePolicy(data: unknown, source = 'policy file'): DisclosurePolicy {
  const p = data as DisclosurePolicy;
  const problems: string[] = [];
  const need = (cond: boolean, what: string): void => {
    if (!cond) problems.push(what);
  };
  need(!!p && typeof p === 'object', '/ must be an object');
  if (!problems.length) {
    need(typeof p.version === 'string' && typeof p.uri === 'string', '/version and /uri are required strings');
    need(!!p.purposeClasses && Object.values(p.purposeClasses).every((c) => PURPOSE_CLASSES.includes(c)), '/purposeClasses values must be purpose classes');
    need(Array.isArray(p.normal?.permit) && Array.isArray(p.normal?.consentRequired), '/normal needs permit and consentRequired');
    need(typeof p.part2?.notice === 'string' && Array.isArray(p.part2?.refrains), '/part2 needs notice and refrains');
    need(!!p.states && typeof p.states === 'object' && !!p.states[p.defaultState], '/defaultState must name an entry of /states');
    for (const [state, sp] of Object.entries(p.states ?? {})) {
      if (state.startsWith('$')) continue;
      need(Array.isArray(sp.protected) && typeof sp.withoutConsent === 'object', `/states/${state} needs protected and withoutConsent`);
    }
    need(Array.isArray(p.alwaysDeny?.confidentiality) && Array.isArray(p.alwaysDeny?.labels), '/alwaysDeny needs confidentiality and labels');
    need(!!p.restrictedTypes && !!p.obligations && Array.isArray(p.clearedClients?.clientIds), '/restrictedTypes, /obligations, /clearedClients are required');
  }
  if (problems.length) throw new Error(`Invalid ${source}: ${problems.join('; ')}`);
  return p;
}

export const DEFAULT_POLICY_FILE = new URL('../../config/policy.json', import.meta.url).pathname;

export function loadPolicy(path = DEFAULT_POLICY_FILE): DisclosurePolicy {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`Invalid policy file ${path}: ${(err as Error).message}`);
  }
  return parsePolicy(data, `policy file ${path}`);
}
