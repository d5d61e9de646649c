// The NDC → RxNorm crosswalk is data the operator supplies (e.g. built from NLM RxNorm's NDC
// attributes, RXNSAT ATN=NDC); this parses it. Pure: the caller reads the file.
// CSV columns: ndc11,rxcui,rxnorm_display  (lines starting with # are comments)

export interface RxNormConcept {
  rxcui: string;
  display: string;
}

export type RxNormCrosswalk = ReadonlyMap<string, RxNormConcept>;

export function parseRxNormCrosswalk(csv: string): RxNormCrosswalk {
  const map = new Map<string, RxNormConcept>();
  const lines = csv.replace(/^\uFEFF/, '').split(/\r?\n/);
  let header = true;
  for (const [i, rawLine] of lines.entries()) {
    const line = rawLine.trim();
    if (!line || line.startsWith('#')) continue;
    if (header) {
      if (!/^ndc11,rxcui,rxnorm_display$/i.test(line)) throw new Error(`crosswalk line ${i + 1}: expected header ndc11,rxcui,rxnorm_display`);
      header = false;
      continue;
    }
    const [ndc11, rxcui, ...rest] = line.split(',');
    if (!/^\d{11}$/.test(ndc11) || !/^\d+$/.test(rxcui)) throw new Error(`crosswalk line ${i + 1}: bad ndc11 or rxcui`);
    map.set(ndc11, { rxcui, display: rest.join(',').replace(/^"|"$/g, '') });
  }
  return map;
}
