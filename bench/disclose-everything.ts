// "Consent off" for the benchmarks that measure what consent costs (bench/bulk-export.ts,
// bench/consent-http.ts): the real engine class, so every caller's path is the gateway's, but
// every resource is disclosed as stored and nothing is audited; screening is unchanged.
import type { Resource } from '@medplum/fhirtypes';
import type { DisclosureChannel } from '../src/consent/audit.js';
import { ConsentEngine } from '../src/consent/engine.js';
import type { FilterResult, Recipient, StoredFilterResult, StoredRow } from '../src/consent/filter.js';

export class DiscloseEverything extends ConsentEngine {
  override async filter<T extends Resource>(_r: Recipient, resources: T[]): Promise<FilterResult<T>> {
    return { permitted: resources, withheld: 0 };
  }
  override async filterStored(_r: Recipient, rows: StoredRow[], _c?: DisclosureChannel): Promise<StoredFilterResult> {
    return { texts: rows.map((r) => r.content), withheld: 0 };
  }
}
