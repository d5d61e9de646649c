// Source of Payment Typology (PHDSC/NAHDO), the code system US Core 6.1 binds Coverage.type to
// (ValueSet 2.16.840.1.114222.4.11.3591). 121 "Medicare FFS" is named in the US Core Coverage intro;
// 2 "MEDICAID" is the top-level Medicaid code (PHDSC SOPT table as reproduced by PCORnet/VistA — [P]).
export const SOPT = {
  medicaid: { code: '2', display: 'MEDICAID' },
  medicareFfs: { code: '121', display: 'Medicare FFS' },
  // Medicare Advantage and integrated dual plans (SOPT v9 table as reproduced by PCORnet value sets
  // and the CQM payer concepts: 11, 14, 141, 142).
  medicareManagedCare: { code: '11', display: 'Medicare (Managed Care)' },
  dualOrganization: { code: '14', display: 'Dual Eligibility Medicare/Medicaid Organization' },
  dsnp: { code: '141', display: 'Dual Eligible Special Needs Plan (D-SNP)' },
  fideSnp: { code: '142', display: 'Fully Integrated Dual Eligible Special Needs Plan (FIDE-SNP)' },
} as const;
