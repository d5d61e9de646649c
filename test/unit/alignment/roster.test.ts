// Roster Groups and their deltas between two runs (new, dropped, changed, nochange).
import type { Group } from '@medplum/fhirtypes';
import { buildRoster, CHANGE_TYPE_EXTENSION, rosterGroupId } from '../../../src/alignment/roster.js';
import type { AlignmentSegment } from '../../../src/alignment/rules.js';
import { expectAllValid } from '../../support/fhir-validation.js';

const seg = (start: string, end: string, pathway: AlignmentSegment['pathway'] = 'medicaid-enrollment'): AlignmentSegment => ({
  acoId: 'aco-1',
  pathway,
  start,
  end,
  months: [],
  coverageId: 'cov-1',
});
const year = seg('2027-01-01', '2027-12-31');

const changes = (g: Group) =>
  Object.fromEntries(
    (g.member ?? []).map((m) => [
      `${m.entity.reference}${m.inactive ? ' (inactive)' : ''} ${m.period?.start}..${m.period?.end}`,
      m.extension?.find((e) => e.url === CHANGE_TYPE_EXTENSION)?.valueCode,
    ]),
  );

function roster(segments: [string, AlignmentSegment[]][], previous?: Group) {
  return buildRoster({ acoId: 'aco-1', acoName: 'ACO One', period: '2027', segments: new Map(segments), previous });
}

describe('alignment roster Group', () => {
  it('first run: every member is new; ATR-style Group that validates', () => {
    const first = roster([
      ['p1', [year]],
      ['p2', [year]],
    ])!;
    expect(first.counts).toEqual({ new: 2, dropped: 0, changed: 0, nochange: 0 });
    expect(first.group).toMatchObject({
      id: 'alignment-aco-1-2027',
      identifier: [{ system: 'https://lead-gateway.example.org/fhir/sid/alignment-roster', value: 'aco-1|2027' }],
      managingEntity: { reference: 'Organization/aco-1' },
      type: 'person',
      actual: true,
      quantity: 2,
    });
    expect(changes(first.group)).toEqual({ 'Patient/p1 2027-01-01..2027-12-31': 'new', 'Patient/p2 2027-01-01..2027-12-31': 'new' });
    expect(first.group.member?.[0].extension).toContainEqual({
      url: 'http://hl7.org/fhir/us/davinci-atr/StructureDefinition/ext-coverageReference',
      valueReference: { reference: 'Coverage/cov-1' },
    });
    expectAllValid([first.group]);
  });

  it('second run: new, dropped, changed and nochange against the previous version', () => {
    const first = roster([
      ['p1', [year]],
      ['p2', [year]],
      ['p3', [year]],
    ])!.group;
    const second = roster(
      [
        ['p1', [year]], // same
        ['p2', [seg('2027-01-01', '2027-06-30')]], // shorter period
        ['p4', [year]], // joins
        // p3 leaves
      ],
      first,
    )!;
    expect(second.counts).toEqual({ new: 1, dropped: 1, changed: 1, nochange: 1 });
    expect(changes(second.group)).toEqual({
      'Patient/p1 2027-01-01..2027-12-31': 'nochange',
      'Patient/p2 2027-01-01..2027-06-30': 'changed',
      'Patient/p4 2027-01-01..2027-12-31': 'new',
      'Patient/p3 (inactive) 2027-01-01..2027-12-31': 'dropped',
    });
    expect(second.group.quantity).toBe(3);
    expectAllValid([second.group]);

    // A pathway change alone is a change too.
    const third = roster(
      [
        ['p1', [seg('2027-01-01', '2027-12-31', 'claims')]],
        ['p2', [seg('2027-01-01', '2027-06-30')]],
        ['p4', [year]],
      ],
      second.group,
    )!;
    expect(third.counts).toEqual({ new: 0, dropped: 0, changed: 1, nochange: 2 });
    // p3 was already dropped: not carried again.
    expect(Object.keys(changes(third.group))).not.toContain('Patient/p3 (inactive) 2027-01-01..2027-12-31');
  });

  it('a re-run on the same data makes no new version; a person dropped and back is new again', () => {
    const first = roster([['p1', [year]]])!.group;
    expect(roster([['p1', [year]]], first)).toBeUndefined();
    const dropped = roster([], first)!.group;
    expect(changes(dropped)).toEqual({ 'Patient/p1 (inactive) 2027-01-01..2027-12-31': 'dropped' });
    expect(roster([], dropped)).toBeUndefined();
    expect(roster([['p1', [year]]], dropped)!.counts.new).toBe(1);
  });

  it('ids stay within FHIR id rules for long ACO ids', () => {
    expect(rosterGroupId('aco-1', '2027')).toBe('alignment-aco-1-2027');
    expect(rosterGroupId('a'.repeat(64), '2027')).toMatch(/^[A-Za-z0-9\-.]{1,64}$/);
  });
});
