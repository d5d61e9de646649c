// Medicare entitlement / state buy-in indicator, monthly (MBSF MDCR_ENTLMT_BUYIN_IND_01..12).
// Source: ResDAC MBSF variable page; bluebutton.cms.gov variable BUYIN01.
export const MEDICARE_BUYIN: Record<string, { display: string; partA: boolean; partB: boolean; stateBuyIn: boolean }> = {
  '0': { display: 'Not entitled', partA: false, partB: false, stateBuyIn: false },
  '1': { display: 'Part A only', partA: true, partB: false, stateBuyIn: false },
  '2': { display: 'Part B only', partA: false, partB: true, stateBuyIn: false },
  '3': { display: 'Part A and Part B', partA: true, partB: true, stateBuyIn: false },
  A: { display: 'Part A state buy-in', partA: true, partB: false, stateBuyIn: true },
  B: { display: 'Part B state buy-in', partA: false, partB: true, stateBuyIn: true },
  C: { display: 'Part A and Part B state buy-in', partA: true, partB: true, stateBuyIn: true },
};
