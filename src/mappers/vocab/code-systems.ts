// The local CodeSystems the mappers emit codes from, built from the same tables the mappers use,
// so what we publish in /profiles is exactly what we send (checked by a test).
import type { CodeSystem, CodeSystemConcept } from '@medplum/fhirtypes';
import { LOCAL_SYSTEM } from '../common/systems.js';
import { INSTRUMENTS } from '../falls-screen/instruments.js';
import { ANSWER_LISTS, INSTRUMENT_PANEL, ITEMS, SECTIONS, type Column } from '../hcbs-assessment/items.js';
import type { FridClassList } from '../pharmacy-claims/medication-risk.js';

const VERSION = '0.1.0';
const COLUMNS: Column[] = ['usual_3d', 'most_dependent_1mo', 'discharge_goal'];

function codeSystem(url: string, title: string, description: string, concept: CodeSystemConcept[], version = VERSION): CodeSystem {
  const id = url.slice(url.lastIndexOf('/') + 1);
  return {
    resourceType: 'CodeSystem',
    id,
    url,
    version,
    name: title.replace(/[^A-Za-z0-9]/g, ''),
    title,
    status: 'draft',
    publisher: 'LEAD FHIR Gateway',
    description,
    caseSensitive: true,
    content: 'complete',
    count: concept.length,
    concept,
  };
}

export function buildCodeSystems(fridClasses: FridClassList): CodeSystem[] {
  const cms = ITEMS.filter((i) => !i.families.includes('INTERRAI'));
  const interrai = ITEMS.filter((i) => i.families.includes('INTERRAI'));
  const itemConcepts = (items: typeof ITEMS) =>
    items.flatMap((i) =>
      i.answers === 'fasi-performance'
        ? COLUMNS.map((c) => ({ code: `${i.id}.${c}`, display: `${i.display} (${c.replace(/_/g, ' ')})` }))
        : [{ code: i.id, display: `${i.display} (single)` }],
    );
  const sectionConcepts = (keys: string[]) => keys.map((k) => ({ code: k, display: SECTIONS[k].display }));
  const instrumentConcepts = (keys: string[]) => keys.map((k) => ({ code: k, display: INSTRUMENT_PANEL[k].display }));

  const systems: CodeSystem[] = [
    codeSystem(
      LOCAL_SYSTEM.cmsAssessmentItem,
      'CMS assessment items (FASI, MDS 3.0 Section GG)',
      'CMS item ids with the performance column, sections and instruments, kept beside LOINC where LOINC exists.',
      [
        ...itemConcepts(cms),
        ...sectionConcepts(Object.keys(SECTIONS).filter((s) => s !== 'G2')),
        ...instrumentConcepts(['FASI_1_0', 'FASI_1_1', 'FASI_1_2', 'MDS_3_0']),
      ],
    ),
    codeSystem(
      LOCAL_SYSTEM.interraiHcItem,
      'interRAI Home Care items',
      'interRAI HC ADL self-performance items (interRAI instruments are licensed by interRAI; codes and short labels only).',
      [...itemConcepts(interrai), ...sectionConcepts(['G2']), ...instrumentConcepts(['INTERRAI_HC'])],
    ),
    codeSystem(LOCAL_SYSTEM.interraiHcResponse, 'interRAI HC ADL self-performance codes', 'interRAI HC ADL self-performance scale 0-6, 8.', concepts(ANSWER_LISTS['interrai-adl'])),
    ...(['fasi-performance', 'mds-performance', 'fasi-living', 'fasi-assistance'] as const).map((list) =>
      codeSystem(`${LOCAL_SYSTEM.cmsAssessmentResponse}-${list}`, `CMS assessment answer codes: ${list}`, `Raw CMS answer codes of the ${list} list.`, concepts(ANSWER_LISTS[list])),
    ),
    codeSystem(
      LOCAL_SYSTEM.fallsScreen,
      'Falls screening items and answers',
      'STEADI (3 key questions, Stay Independent), TUG, Morse Fall Scale and MDS Section J items, answers, panels and totals, as the gateway codes them.',
      Object.values(INSTRUMENTS).flatMap((ins) => [
        { code: ins.panel.code, display: ins.panel.display },
        ...ins.items.flatMap((i) => [
          { code: `${ins.tool}.${i.id}`, display: i.display },
          ...Object.entries(i.answers ?? {}).map(([code, a]) => ({ code: `${ins.tool}.${i.id}.${code}`, display: a.display })),
        ]),
        ...(ins.tool === 'STEADI_SI12' ? [{ code: 'STEADI_SI12.TOTAL', display: 'Stay Independent total score' }] : []),
      ]).filter((c, i, all) => all.findIndex((x) => x.code === c.code) === i),
    ),
    codeSystem(LOCAL_SYSTEM.medicationRisk, 'Medication risk findings', 'Polypharmacy and fall-risk-increasing drug findings computed from dispenses.', [
      { code: 'polypharmacy', display: 'Polypharmacy: concurrent medications at or above the threshold' },
      { code: 'peak-concurrent-medications', display: 'Peak concurrent medications' },
      { code: 'polypharmacy-threshold', display: 'Polypharmacy threshold' },
      { code: 'fall-risk-increasing-drug', display: 'Fall-risk-increasing drug supplied' },
      { code: 'frid-class', display: 'FRID class' },
    ]),
    codeSystem(
      LOCAL_SYSTEM.fridClass,
      'Fall-risk-increasing drug classes',
      'Classes of config/medication-risk/frid-classes.json; the version is the list version.',
      fridClasses.classes.map((c) => ({ code: c.code, display: c.display })),
      fridClasses.version,
    ),
  ];
  return systems;
}

function concepts(list: Record<string, { display: string }>): CodeSystemConcept[] {
  return Object.entries(list)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([code, a]) => ({ code, display: a.display }));
}
