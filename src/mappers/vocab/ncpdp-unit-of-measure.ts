// T-MSIS UOM_CD (NCPDP quantity unit of measure) → UCUM.
// Source: T-MSIS data dictionary valid values for UOM_CD (F2, ML, GR, UN, ME, EA, GM) as listed in
// the research sheet from CMS TAF RX generation code; UCUM equivalents are ours. [P]
export const UOM_TO_UCUM: Record<string, { unit: string; code: string }> = {
  EA: { unit: 'each', code: '{each}' },
  UN: { unit: 'unit', code: '{unit}' },
  F2: { unit: 'international unit', code: '[iU]' },
  ML: { unit: 'mL', code: 'mL' },
  GR: { unit: 'g', code: 'g' },
  GM: { unit: 'g', code: 'g' },
  ME: { unit: 'mg', code: 'mg' },
};
