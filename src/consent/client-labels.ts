// Labels a client sends in meta.security are checked, not trusted (consent-security.md §4.3 C20).
// Decision: a label in an unknown system, or an unknown code in a known one, rejects the write
// (422) rather than being dropped silently — a sender that means to restrict data must learn its
// label was not understood. Accepted labels are a floor: the labeler only ever adds to them, so
// a client can raise confidentiality but never lower it. The deprecated v3-Confidentiality
// info-type codes (ETH, HIV, PSY, SDV) are mapped to their ActCode equivalents (§1.2).
import type { Coding } from '@medplum/fhirtypes';
import { outcomes } from '../fhir/outcomes.js';
import { ACT_CODE, CONFIDENTIALITY, CONFIDENTIALITY_ORDER, isKnownActCode, type ConfidentialityCode } from './vocabulary.js';

export interface ClientLabels {
  /** Highest confidentiality the client asked for, if any. */
  confidentiality?: ConfidentialityCode;
  /** ActCode sensitivity, privacy-law and refrain codes. */
  actCodes: string[];
}

const DEPRECATED_INFO_TYPES: Record<string, string> = { ETH: 'SUD', HIV: 'HIV', PSY: 'PSY', SDV: 'SDV' };

export function checkClientLabels(security: Coding[] | undefined): ClientLabels {
  const out: ClientLabels = { actCodes: [] };
  if (security !== undefined && !Array.isArray(security)) throw reject(-1, 'must be an array of Coding');
  (security ?? []).forEach((c, i) => {
    const code = typeof c?.code === 'string' ? c.code : '';
    if (c?.system === CONFIDENTIALITY) {
      if ((CONFIDENTIALITY_ORDER as readonly string[]).includes(code)) {
        const cur = out.confidentiality;
        if (!cur || CONFIDENTIALITY_ORDER.indexOf(code as ConfidentialityCode) > CONFIDENTIALITY_ORDER.indexOf(cur)) {
          out.confidentiality = code as ConfidentialityCode;
        }
      } else if (DEPRECATED_INFO_TYPES[code]) {
        out.actCodes.push(DEPRECATED_INFO_TYPES[code]);
      } else throw reject(i, 'is not a v3-Confidentiality code this server accepts (U, L, M, N, R, V)');
    } else if (c?.system === ACT_CODE) {
      if (!isKnownActCode(code)) throw reject(i, 'is not a v3-ActCode sensitivity, privacy-law or refrain code this server accepts');
      out.actCodes.push(code === 'ETH' ? 'SUD' : code);
    } else {
      throw reject(i, 'uses a security label system this server does not accept (v3-Confidentiality and v3-ActCode only)');
    }
  });
  return out;
}

function reject(i: number, why: string) {
  const where = i < 0 ? 'meta.security' : `meta.security[${i}]`;
  return outcomes.unprocessable([{ severity: 'error', code: 'security', diagnostics: `${where} ${why}`, expression: [where] }]);
}
