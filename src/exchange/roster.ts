// Which ACO a beneficiary is aligned to, from an explicit roster file, until the alignment
// module (Medicaid-based alignment, src/alignment) exists. The Patient's own
// generalPractitioner / managingOrganization references are read beside it (route-write.ts).
//
// File (EXCHANGE_ROSTER_FILE):
//   { "attributions": [ { "aco": "aco-sunrise",
//       "identifier": { "system": "https://lead-gateway.example.org/fhir/sid/medicaid/26", "value": "SYN0000001" } } ] }
import { readFileSync } from 'node:fs';
import type { Identifier } from '@medplum/fhirtypes';

export interface Roster {
  /** ACO organization ids the person with any of these identifiers is aligned to. */
  acosFor(identifiers: Identifier[] | undefined): string[];
  readonly size: number;
}

export const EMPTY_ROSTER: Roster = { acosFor: () => [], size: 0 };

export function parseRoster(data: unknown, source = 'roster file'): Roster {
  const list = (data as { attributions?: unknown } | undefined)?.attributions;
  if (!Array.isArray(list)) throw new Error(`Invalid ${source}: /attributions must be an array`);
  const byKey = new Map<string, Set<string>>();
  list.forEach((a: { aco?: unknown; identifier?: { system?: unknown; value?: unknown } }, i) => {
    if (typeof a?.aco !== 'string' || typeof a.identifier?.system !== 'string' || typeof a.identifier?.value !== 'string') {
      throw new Error(`Invalid ${source}: /attributions/${i} needs aco and identifier {system, value}`);
    }
    const key = `${a.identifier.system}|${a.identifier.value}`;
    if (!byKey.has(key)) byKey.set(key, new Set());
    byKey.get(key)!.add(a.aco);
  });
  return {
    size: list.length,
    acosFor(identifiers) {
      const out = new Set<string>();
      for (const id of identifiers ?? []) for (const aco of byKey.get(`${id.system}|${id.value}`) ?? []) out.add(aco);
      return [...out];
    },
  };
}

export function loadRoster(path: string | undefined): Roster {
  if (!path) return EMPTY_ROSTER;
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`Invalid roster file ${path}: ${(err as Error).message}`);
  }
  return parseRoster(data, `roster file ${path}`);
}
