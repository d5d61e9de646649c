// Falls screening instruments: items, answers, points and LOINC codes.
// Evidence per code: [V] read at the terminology owner or a normative IG; [P] seen only in
// secondary sources (HL7 IG value sets, implementer code) — kept, and listed in
// docs/mappers.md for checking against loinc.org / the SNOMED browser.
//
// STEADI (CDC): the 3 key questions and the 12-item Stay Independent brochure (Rubenstein et al.,
//   J Safety Res 2011): yes = 2 points for items 1-2, 1 point for items 3-12; ≥ 4 = may be at risk.
//   No LOINC codes exist for these items (none found) → local codes.
// TUG: LOINC 89422-0 panel, 89423-8 time in seconds [V loinc.org/89422-0]; ≥ 12 s = at risk (STEADI).
// Morse Fall Scale: panel 59453-1, items 59454-9 [V], 59455-6 [P], 59456-4 [V], 59457-2 [P],
//   59458-0 [P], 59459-8 [V]; total 59460-6 [V]; level 59461-4 with LL905-1 answers
//   LA13038-7 / LA13039-5 / LA13040-3 [V cdn.loinc.org/59461-4].
// MDS 3.0 Section J: J1700A/B/C → 54850-3 / 54851-1 / 54852-9, J1800 → 54853-7,
//   J1900A/B/C → 54855-2 / 54856-0 / 54857-8 [V loinc.org panel 86823-2].
// Hendrich II is proprietary (licence needed) and is not accepted.
// Yes/No answers: LOINC LA33-6 Yes, LA32-8 No [P: used throughout HL7 IG examples].

export type Tool = 'STEADI_3Q' | 'STEADI_SI12' | 'TUG' | 'MORSE' | 'MDS_J';
export type RiskBand = 'low' | 'moderate' | 'high';

export interface Answer {
  display: string;
  points?: number;
  la?: string;
}

export interface Item {
  id: string;
  display: string;
  loinc?: string;
  answers?: Record<string, Answer>;
  /** Numeric item (TUG seconds): no answers. */
  numeric?: { unit: string; ucum: string };
}

export interface Instrument {
  tool: Tool;
  title: string;
  /** Collection (panel) code: LOINC where one exists. */
  panel: { system: 'loinc' | 'local'; code: string; display: string };
  items: Item[];
  /** All items must be answered to score (else the record is rejected). */
  complete: boolean;
}

const yesNo = (yesPoints = 1): Record<string, Answer> => ({
  Y: { display: 'Yes', points: yesPoints, la: 'LA33-6' },
  N: { display: 'No', points: 0, la: 'LA32-8' },
});

const SI_ITEMS: [string, number][] = [
  ['I have fallen in the past year', 2],
  ['I use or have been advised to use a cane or walker to get around safely', 2],
  ['Sometimes I feel unsteady when I am walking', 1],
  ['I steady myself by holding onto furniture when walking at home', 1],
  ['I am worried about falling', 1],
  ['I need to push with my hands to stand up from a chair', 1],
  ['I have some trouble stepping up onto a curb', 1],
  ['I often have to rush to the toilet', 1],
  ['I have lost some feeling in my feet', 1],
  ['I take medicine that sometimes makes me feel light-headed or more tired than usual', 1],
  ['I take medicine to help me sleep or improve my mood', 1],
  ['I often feel sad or depressed', 1],
];

export const INSTRUMENTS: Record<Tool, Instrument> = {
  STEADI_3Q: {
    tool: 'STEADI_3Q',
    title: 'CDC STEADI three key questions',
    panel: { system: 'local', code: 'steadi-3q', display: 'STEADI three key questions' },
    complete: true,
    items: [
      { id: 'KQ1', display: 'Fallen in the past year', answers: yesNo() },
      { id: 'KQ2', display: 'Feels unsteady when standing or walking', answers: yesNo() },
      { id: 'KQ3', display: 'Worries about falling', answers: yesNo() },
    ],
  },
  STEADI_SI12: {
    tool: 'STEADI_SI12',
    title: 'CDC STEADI Stay Independent brochure (12 items)',
    panel: { system: 'local', code: 'steadi-si12', display: 'STEADI Stay Independent' },
    complete: true,
    items: SI_ITEMS.map(([display, points], i) => ({
      id: `SI${String(i + 1).padStart(2, '0')}`,
      display,
      answers: yesNo(points),
    })),
  },
  TUG: {
    tool: 'TUG',
    title: 'Timed Up and Go',
    panel: { system: 'loinc', code: '89422-0', display: 'Timed Up and Go test and physical findings of gait panel CDC' },
    complete: true,
    items: [
      {
        id: 'TUG',
        display: 'Time to rise from chair, walk 10 feet and back, and return to sitting [TUG]',
        loinc: '89423-8',
        numeric: { unit: 's', ucum: 's' },
      },
    ],
  },
  MORSE: {
    tool: 'MORSE',
    title: 'Morse Fall Scale',
    panel: { system: 'loinc', code: '59453-1', display: 'Morse Fall Scale panel' },
    complete: true,
    items: [
      { id: 'MFS1', display: 'History of falling; immediate or within 3 months', loinc: '59454-9', answers: { N: { display: 'No', points: 0 }, Y: { display: 'Yes', points: 25 } } },
      { id: 'MFS2', display: 'Secondary diagnosis', loinc: '59455-6', answers: { N: { display: 'No', points: 0 }, Y: { display: 'Yes', points: 15 } } },
      {
        id: 'MFS3',
        display: 'Ambulatory aid',
        loinc: '59456-4',
        answers: {
          NONE: { display: 'None/bed rest/nurse assist', points: 0 },
          AID: { display: 'Crutches/cane/walker', points: 15 },
          FURNITURE: { display: 'Furniture', points: 30 },
        },
      },
      { id: 'MFS4', display: 'IV or IV access (heparin lock)', loinc: '59457-2', answers: { N: { display: 'No', points: 0 }, Y: { display: 'Yes', points: 20 } } },
      {
        id: 'MFS5',
        display: 'Gait',
        loinc: '59458-0',
        answers: {
          NORMAL: { display: 'Normal/bed rest/wheelchair', points: 0 },
          WEAK: { display: 'Weak', points: 10 },
          IMPAIRED: { display: 'Impaired', points: 20 },
        },
      },
      {
        id: 'MFS6',
        display: 'Mental status',
        loinc: '59459-8',
        answers: {
          ORIENTED: { display: 'Oriented to own ability', points: 0 },
          FORGETS: { display: 'Overestimates or forgets limitations', points: 15 },
        },
      },
    ],
  },
  MDS_J: {
    tool: 'MDS_J',
    title: 'MDS 3.0 Section J health conditions: falls',
    panel: { system: 'local', code: 'mds-j-falls', display: 'MDS 3.0 Section J falls items' },
    complete: false,
    items: [
      { id: 'J1700A', display: 'Fall in the month before admission/entry or reentry', loinc: '54850-3', answers: mdsYesNoUnknown() },
      { id: 'J1700B', display: 'Fall 2-6 months before admission/entry or reentry', loinc: '54851-1', answers: mdsYesNoUnknown() },
      { id: 'J1700C', display: 'Fracture related to a fall in the 6 months before admission/entry or reentry', loinc: '54852-9', answers: mdsYesNoUnknown() },
      { id: 'J1800', display: 'Any falls since admission/entry or reentry or prior assessment', loinc: '54853-7', answers: { '0': { display: 'No' }, '1': { display: 'Yes' } } },
      { id: 'J1900A', display: 'Number of falls: no injury', loinc: '54855-2', answers: mdsCount() },
      { id: 'J1900B', display: 'Number of falls: injury (except major)', loinc: '54856-0', answers: mdsCount() },
      { id: 'J1900C', display: 'Number of falls: major injury', loinc: '54857-8', answers: mdsCount() },
    ],
  },
};

function mdsYesNoUnknown(): Record<string, Answer> {
  return { '0': { display: 'No' }, '1': { display: 'Yes' }, '9': { display: 'Unable to determine' } };
}
function mdsCount(): Record<string, Answer> {
  return { '0': { display: 'None' }, '1': { display: 'One' }, '2': { display: 'Two or more' } };
}

/** Morse risk level answers (LOINC LL905-1, for 59461-4). */
export const MORSE_LEVEL: Record<RiskBand, { la: string; display: string }> = {
  low: { la: 'LA13038-7', display: 'Low Risk (MFS Score 0 - 24)' },
  moderate: { la: 'LA13039-5', display: 'Moderate Risk (MFS Score 25 - 45)' },
  high: { la: 'LA13040-3', display: 'High Risk (MFS Score 50+)' },
};

/** SNOMED CT [P]: FSN read in a published value set expansion, not the SNOMED browser. */
export const SNOMED_AT_RISK_FOR_FALLS = { code: '129839007', display: 'At increased risk for falls (finding)' };
/** SNOMED CT 1912002 Fall (event) [P]: the predicted outcome of a fall RiskAssessment. */
export const SNOMED_FALL_EVENT = { code: '1912002', display: 'Fall (event)' };

export function findItem(tool: Tool, itemId: string): Item | undefined {
  return INSTRUMENTS[tool].items.find((i) => i.id === itemId);
}
