// HCBS assessment item catalogue: CMS item ids (FASI, MDS 3.0 Section GG), interRAI HC ADL items,
// the answer lists, and the LOINC codes we could verify.
//
// Item ids and labels: CMS DEL-derived FASI Questionnaire FASI-FA-1.1 (identifier system
// http://del.cms.gov), as read for the research sheet; MDS 3.0 RAI manual Section GG.
// LOINC item codes:
//   MDS GG 3-day (column usual_3d): HL7/fhir-pacio-functional-status input/fsh/*ObservationInstances.fsh
//     ("... - functional ability during 3 day assessment period [CMS Assessment]") [V].
//   FASI most dependent, past month (column most_dependent_1mo): 94940-4 GG0170A8 [V loinc.org];
//     94933-9 Eating, 94934-7 Oral hygiene [P: PACIO TOC value set "answered by LL5571-6"].
//   Every other FASI item: no LOINC verified → local code only (cms-assessment-item).
// Answer codes:
//   FASI 6-point scale = LOINC answer list LL5571-6 [V loinc.org/94852-1]; its LA codes are attached
//   only to items that carry a LOINC code answered by that list. MDS GG answers: CMS codes, local only
//   (the LA list bound to the 3-day items was not verified). interRAI HC: interRAI-licensed, local only.

export type Family = 'FASI' | 'MDS' | 'INTERRAI';
export type Column = 'usual_3d' | 'most_dependent_1mo' | 'discharge_goal' | 'single';
export type AnswerListId = 'fasi-performance' | 'mds-performance' | 'interrai-adl' | 'fasi-living' | 'fasi-assistance' | 'text';

export interface AnswerCode {
  display: string;
  la?: string;
}

export const ANSWER_LISTS: Record<Exclude<AnswerListId, 'text'>, Record<string, AnswerCode>> = {
  'fasi-performance': {
    '06': { display: 'Independent', la: 'LA30909-8' },
    '05': { display: 'Setup or clean-up assistance', la: 'LA30910-6' },
    '04': { display: 'Supervision or touching assistance', la: 'LA30911-4' },
    '03': { display: 'Partial/moderate assistance', la: 'LA10055-4' },
    '02': { display: 'Substantial/maximal assistance', la: 'LA11759-0' },
    '01': { display: 'Dependent', la: 'LA30914-8' },
    '07': { display: 'Person refused', la: 'LA30915-5' },
    '11': { display: 'Not applicable - person does not usually do this activity', la: 'LA30916-3' },
    '90': { display: 'Not attempted due to short-term medical condition or safety concerns', la: 'LA30917-1' },
  },
  'mds-performance': {
    '06': { display: 'Independent' },
    '05': { display: 'Setup or clean-up assistance' },
    '04': { display: 'Supervision or touching assistance' },
    '03': { display: 'Partial/moderate assistance' },
    '02': { display: 'Substantial/maximal assistance' },
    '01': { display: 'Dependent' },
    '07': { display: 'Resident refused' },
    '09': { display: 'Not applicable' },
    '10': { display: 'Not attempted due to environmental limitations' },
    '88': { display: 'Not attempted due to medical condition or safety concerns' },
  },
  'interrai-adl': {
    '0': { display: 'Independent' },
    '1': { display: 'Independent, setup help only' },
    '2': { display: 'Supervision' },
    '3': { display: 'Limited assistance' },
    '4': { display: 'Extensive assistance' },
    '5': { display: 'Maximal assistance' },
    '6': { display: 'Total dependence' },
    '8': { display: 'Activity did not occur' },
  },
  'fasi-living': {
    '05': { display: 'Lives alone' },
    '04': { display: 'Lives with others' },
    '03': { display: 'Lives in congregate setting' },
    '02': { display: 'No permanent home' },
    '01': { display: 'Lives in a medical facility' },
  },
  'fasi-assistance': {
    '05': { display: 'No assistance' },
    '04': { display: 'Occasional assistance' },
    '03': { display: 'Regular night-time assistance' },
    '02': { display: 'Regular daytime assistance' },
    '01': { display: 'Around the clock assistance' },
  },
};

export interface ItemDef {
  id: string;
  display: string;
  section: string;
  families: Family[];
  answers: AnswerListId;
  /** LOINC item code by family and column, where verified. */
  loinc?: Partial<Record<`${Family}|${Column}`, string>>;
}

/** ICF chapter of each section (PACIO PFE pattern): self-care d5, mobility d4, domestic life d6. */
export const SECTIONS: Record<string, { display: string; icf?: { code: string; display: string } }> = {
  GG0130: { display: 'Self-care', icf: { code: 'd5', display: 'Self-care' } },
  GG0170: { display: 'Mobility', icf: { code: 'd4', display: 'Mobility' } },
  GG0185: { display: 'Instrumental activities of daily living', icf: { code: 'd6', display: 'Domestic life' } },
  GG0135: { display: 'Self-care priorities' },
  GG0190: { display: 'IADL priorities' },
  F09: { display: 'Living arrangement and caregiving' },
  G2: { display: 'interRAI HC ADL self-performance', icf: { code: 'd5', display: 'Self-care' } },
};

const gg = (
  id: string,
  display: string,
  families: Family[],
  loinc?: ItemDef['loinc'],
): ItemDef => ({ id, display, section: id.slice(0, 6), families, answers: 'fasi-performance', loinc });
const both: Family[] = ['FASI', 'MDS'];

export const ITEMS: ItemDef[] = [
  gg('GG0130A', 'Eating', both, { 'MDS|usual_3d': '83232-9', 'FASI|most_dependent_1mo': '94933-9' }),
  gg('GG0130B', 'Oral hygiene', both, { 'MDS|usual_3d': '83230-3', 'FASI|most_dependent_1mo': '94934-7' }),
  gg('GG0130C', 'Toileting hygiene', ['MDS'], { 'MDS|usual_3d': '83228-7' }),
  gg('GG0130CC', 'Toileting hygiene', ['FASI']),
  gg('GG0130D', 'Wash upper body', ['FASI']),
  gg('GG0130E', 'Shower/bathe self', ['MDS'], { 'MDS|usual_3d': '83226-1' }),
  gg('GG0130EE', 'Shower/bathe self', ['FASI']),
  gg('GG0130F', 'Upper body dressing', both, { 'MDS|usual_3d': '83224-6' }),
  gg('GG0130G', 'Lower body dressing', both, { 'MDS|usual_3d': '83222-0' }),
  gg('GG0130H', 'Putting on/taking off footwear', both, { 'MDS|usual_3d': '83220-4' }),
  gg('GG0170A', 'Roll left and right', both, { 'MDS|usual_3d': '83218-8', 'FASI|most_dependent_1mo': '94940-4' }),
  gg('GG0170B', 'Sit to lying', both, { 'MDS|usual_3d': '83216-2' }),
  gg('GG0170C', 'Lying to sitting on side of bed', both, { 'MDS|usual_3d': '83214-7' }),
  gg('GG0170D', 'Sit to stand', both, { 'MDS|usual_3d': '83212-1' }),
  gg('GG0170E', 'Chair/bed-to-chair transfer', both, { 'MDS|usual_3d': '83210-5' }),
  gg('GG0170F', 'Toilet transfer', both, { 'MDS|usual_3d': '83208-9' }),
  gg('GG0170G', 'Car transfer', both, { 'MDS|usual_3d': '83206-3' }),
  gg('GG0170I', 'Walk 10 feet', both, { 'MDS|usual_3d': '83204-8' }),
  gg('GG0170J', 'Walk 50 feet with two turns', both, { 'MDS|usual_3d': '83202-2' }),
  gg('GG0170K', 'Walk 150 feet', both, { 'MDS|usual_3d': '83200-6' }),
  gg('GG0170L', 'Walking 10 feet on uneven surfaces', both, { 'MDS|usual_3d': '83198-2' }),
  gg('GG0170M', '1 step (curb)', both, { 'MDS|usual_3d': '83196-6' }),
  gg('GG0170N', '4 steps', both, { 'MDS|usual_3d': '83194-1' }),
  gg('GG0170O', '12 steps', both, { 'MDS|usual_3d': '83192-5' }),
  gg('GG0170P', 'Picking up object', both, { 'MDS|usual_3d': '83190-9' }),
  gg('GG0170R', 'Wheel 50 feet with two turns', ['MDS'], { 'MDS|usual_3d': '83188-3' }),
  gg('GG0170S', 'Wheel 150 feet', ['MDS'], { 'MDS|usual_3d': '83235-2' }),
  gg('GG0170U', 'Walk indoors', ['FASI']),
  gg('GG0170V', 'Carries something in both hands', ['FASI']),
  gg('GG0170W', 'Walk for 15 minutes', ['FASI']),
  gg('GG0170X', 'Walk across a street', ['FASI']),
  ...(
    [
      ['A', 'Makes a light cold meal'],
      ['B', 'Makes a light hot meal'],
      ['C', 'Light daily housework'],
      ['D', 'Heavier periodic housework'],
      ['E', 'Light shopping'],
      ['F', 'Telephone-answering call'],
      ['G', 'Telephone-placing call'],
      ['H', 'Medication management-oral medications'],
      ['I', 'Medication management-inhalant/mist medications'],
      ['J', 'Medication management-injectable medications'],
      ['K', 'Simple financial management'],
      ['L', 'Complex financial management'],
    ] as const
  ).map(([s, d]) => gg(`GG0185${s}`, d, ['FASI'])),
  ...['GG0135A', 'GG0135B', 'GG0190A', 'GG0190B'].map(
    (id): ItemDef => ({ id, display: 'Personal priority (free text)', section: id.slice(0, 6), families: ['FASI'], answers: 'text' }),
  ),
  { id: 'F0900A1', display: 'Living arrangement - past 3 days', section: 'F09', families: ['FASI'], answers: 'fasi-living' },
  { id: 'F0900A2', display: 'Living arrangement - past month', section: 'F09', families: ['FASI'], answers: 'fasi-living' },
  { id: 'F0910B1', display: 'Level of paid assistance', section: 'F09', families: ['FASI'], answers: 'fasi-assistance' },
  { id: 'F0910B2', display: 'Level of unpaid assistance', section: 'F09', families: ['FASI'], answers: 'fasi-assistance' },
  ...(
    [
      ['G2a', 'Bathing'],
      ['G2b', 'Personal hygiene'],
      ['G2c', 'Dressing upper body'],
      ['G2d', 'Dressing lower body'],
      ['G2e', 'Walking'],
      ['G2f', 'Locomotion'],
      ['G2g', 'Transfer toilet'],
      ['G2h', 'Toilet use'],
      ['G2i', 'Bed mobility'],
      ['G2j', 'Eating'],
    ] as const
  ).map(([id, display]): ItemDef => ({ id, display: `ADL self-performance: ${display}`, section: 'G2', families: ['INTERRAI'], answers: 'interrai-adl' })),
];

const BY_ID = new Map(ITEMS.map((i) => [i.id, i]));

export function findItem(itemId: string): ItemDef | undefined {
  return BY_ID.get(itemId);
}

/** FASI and MDS GG items use a different answer list per family. */
export function answerList(item: ItemDef, family: Family): AnswerListId {
  return item.answers === 'fasi-performance' && family === 'MDS' ? 'mds-performance' : item.answers;
}

export const INSTRUMENT_FAMILY: Record<string, Family> = {
  FASI_1_0: 'FASI',
  FASI_1_1: 'FASI',
  FASI_1_2: 'FASI',
  MDS_3_0: 'MDS',
  INTERRAI_HC: 'INTERRAI',
};

/** Whole-instrument panel: FASI versions have LOINC panels [V loinc.org]; others local. */
export const INSTRUMENT_PANEL: Record<string, { loinc?: string; display: string }> = {
  FASI_1_0: { loinc: '94848-9', display: 'Functional assessment standardized items (FASI) - version 1.0 [CMS Assessment]' },
  FASI_1_1: { loinc: '105175-4', display: 'Functional assessment standardized items (FASI) - version 1.1 [CMS Assessment]' },
  FASI_1_2: { loinc: '106517-6', display: 'Functional assessment standardized items (FASI) - version 1.2 [CMS Assessment]' },
  MDS_3_0: { display: 'MDS 3.0 Section GG functional abilities' },
  INTERRAI_HC: { display: 'interRAI Home Care' },
};
