// Medicare-Medicaid (MMA) dual status codes, monthly.
// Sources: ResDAC MBSF "Medicare-Medicaid dual eligibility code" (DUAL_STUS_CD_01..12); CMS TAF DE
// DUAL_ELGBL_CD and the TAF BSF grouping (Enterprise-CMCS/T-MSIS-Analytic-File-Generation-Python,
// taf/BSF/ELG00005.py: 02,04,08 full; 01,03,05,06 partial; 09,10 other; 00 not dual).
// 07 is not a valid code in either source. Labels for 09/10 were not read: kept generic.

export type DualGroup = 'full' | 'partial' | 'other' | 'none';

export const DUAL_STATUS: Record<string, { display: string; group: DualGroup }> = {
  '00': { display: 'Not enrolled in Medicare for the month', group: 'none' },
  '01': { display: 'Qualified Medicare Beneficiary (QMB) only', group: 'partial' },
  '02': { display: 'QMB and full Medicaid coverage, including prescription drugs', group: 'full' },
  '03': { display: 'Specified Low-Income Medicare Beneficiary (SLMB) only', group: 'partial' },
  '04': { display: 'SLMB and full Medicaid coverage, including prescription drugs', group: 'full' },
  '05': { display: 'Qualified Disabled and Working Individual (QDWI)', group: 'partial' },
  '06': { display: 'Qualifying Individual (QI)', group: 'partial' },
  '08': { display: 'Other full dual eligible (full Medicaid coverage, including prescription drugs)', group: 'full' },
  '09': { display: 'Other dual eligible (TAF group "other")', group: 'other' },
  '10': { display: 'Other dual eligible (TAF group "other")', group: 'other' },
};
