// NDC normalisation to the 11-digit 5-4-2 form used by claims (HIPAA/NCPDP) and by
// http://hl7.org/fhir/sid/ndc. FDA labels print 10 digits in one of three hyphenated shapes; the
// 11-digit form pads the short segment with a leading zero (CMS/FDA "NDC 10 to 11 conversion"):
//   4-4-2 → 0LLLL-PPPP-KK    5-3-2 → LLLLL-0PPP-KK    5-4-1 → LLLLL-PPPP-0K
// An unhyphenated 10-digit NDC cannot be converted: the segment to pad is unknown (1234567890 is
// 01234-5678-90, 12345-0678-90 or 12345-6789-00 depending on the labeler's configuration). We
// reject it rather than guess: a wrong pad silently names a different product.

export type NdcResult = { ok: true; ndc11: string } | { ok: false; reason: string };

const SHAPES: [RegExp, (m: RegExpExecArray) => string][] = [
  [/^(\d{5})-(\d{4})-(\d{2})$/, (m) => m[1] + m[2] + m[3]],
  [/^(\d{4})-(\d{4})-(\d{2})$/, (m) => `0${m[1]}${m[2]}${m[3]}`],
  [/^(\d{5})-(\d{3})-(\d{2})$/, (m) => `${m[1]}0${m[2]}${m[3]}`],
  [/^(\d{5})-(\d{4})-(\d{1})$/, (m) => `${m[1]}${m[2]}0${m[3]}`],
];

export function normalizeNdc(raw: string): NdcResult {
  const value = raw.trim();
  if (/^\d{11}$/.test(value)) return { ok: true, ndc11: value };
  for (const [re, build] of SHAPES) {
    const m = re.exec(value);
    if (m) return { ok: true, ndc11: build(m) };
  }
  if (/^\d{10}$/.test(value)) {
    return {
      ok: false,
      reason:
        'unhyphenated 10-digit NDC is ambiguous (4-4-2, 5-3-2 or 5-4-1); send the 11-digit form or the hyphenated 10-digit form',
    };
  }
  return { ok: false, reason: 'not an NDC: expected 11 digits, or 10 digits hyphenated 4-4-2, 5-3-2 or 5-4-1' };
}
