// Source of Payment Typology (PHDSC/NAHDO), the code system US Core 6.1 binds Coverage.type to
// (ValueSet 2.16.840.1.114222.4.11.3591). 121 "Medicare FFS" is named in the US Core Coverage intro;
// 2 "MEDICAID" is the top-level Medicaid code (PHDSC SOPT table as reproduced by PCORnet/VistA — [P]).
export const SOPT = {
  medicaid: { code: '2', display: 'MEDICAID' },
  medicareFfs: { code: '121', display: 'Medicare FFS' },
} as const;
