// The ingest pipeline: parse → schema-check → map → validate → store, each source record
// all-or-nothing: its own savepoint in a transaction of several records (store-batches.ts), so a
// failing record rolls back alone and reports are made only after the commit. Resources are
// written by id (deterministic, from the mapper): `upsert` resources through Repository.update, which makes no new version when the content is
// unchanged apart from meta (so re-ingesting a file changes nothing); `create-if-absent`
// resources only when missing. Validation runs inside the store's write (Repository `validate`
// option): a resource that fails it rolls back its whole record, which is then reported.
// A rejected record rejects only itself; the report names its lines, fields and reasons.
import type { MedicationDispense, OperationOutcomeIssue, Patient, Resource } from '@medplum/fhirtypes';
import { FhirError } from '../fhir/outcomes.js';
import { parseSearchRequest } from '../fhir/search/search-request.js';
import type { Repository } from '../fhir/store/repository.js';
import type { Layout, MapContext, MappedRecord, MappedResource } from '../mappers/common/types.js';
import { assessMedicationRisk, type MedicationRiskOptions } from '../mappers/pharmacy-claims/medication-risk.js';
import { mapSource } from './map-stream.js';
import { RetryBatch, StoreBatches, type StoreBatchOptions } from './store-batches.js';
import { parseSource, type SourceFormat } from './parse.js';

/** Transactions in flight on PostgreSQL (PGlite: always 1). */
export const DEFAULT_LANES = 4;
/** Records per transaction, each in its own savepoint. */
export const DEFAULT_BATCH_RECORDS = 50;
export const DEFAULT_BATCH_RESOURCES = 500;

export interface IngestOptions {
  layout: Layout;
  format: SourceFormat;
  ctx: MapContext;
  repo: Repository;
  maxRecordBytes?: number;
  /** Pharmacy claims: recompute polypharmacy / FRID observations for the people in the file. */
  medicationRisk?: MedicationRiskOptions;
  /** Called after each source record (progress bars). */
  onRecord?: (report: IngestReport) => void;
  /** Most rejected records kept in detail (the count is always exact). Default 10,000. */
  maxRejectDetails?: number;
  /** Batching of the store (defaults: DEFAULT_LANES, DEFAULT_BATCH_RECORDS, DEFAULT_BATCH_RESOURCES). */
  store?: Partial<StoreBatchOptions>;
  /** Called after each committed record with the resources it created, updated or left unchanged. */
  onStored?: (written: WrittenResource[]) => Promise<void> | void;
}

export interface WrittenResource {
  resourceType: string;
  id: string;
  versionId: string;
  outcome: 'created' | 'updated' | 'unchanged';
}

export interface RejectedRecord {
  lines: number[];
  issues: OperationOutcomeIssue[];
}

export interface IngestReport {
  records: number;
  accepted: number;
  rejected: number;
  resources: { created: number; updated: number; unchanged: number; skipped: number };
  rejects: RejectedRecord[];
  /** Warnings of accepted records (score mismatches, NDC not in the crosswalk, …). */
  warnings: OperationOutcomeIssue[];
}

export async function ingest(input: AsyncIterable<Uint8Array | string>, opts: IngestOptions): Promise<IngestReport> {
  const report: IngestReport = {
    records: 0,
    accepted: 0,
    rejected: 0,
    resources: { created: 0, updated: 0, unchanged: 0, skipped: 0 },
    rejects: [],
    warnings: [],
  };
  const maxDetails = opts.maxRejectDetails ?? 10_000;
  // Lanes settle out of file order: keep the first maxDetails by line, sorted at the end.
  const reject = (r: RejectedRecord) => {
    report.rejected++;
    report.rejects.push(r);
    if (report.rejects.length >= 2 * maxDetails) keepFirst(report.rejects, maxDetails);
  };
  const add = (counts: Counts) => {
    for (const k of Object.keys(counts) as (keyof Counts)[]) report.resources[k] += counts[k];
  };
  const patients = new Map<string, Patient & { id: string }>();
  const known = new KnownResources();
  const store = new StoreBatches(opts.repo, storeBatchOptions(opts));

  for await (const outcome of mapSource(parseSource(input, { format: opts.format, maxRecordBytes: opts.maxRecordBytes }), opts.layout, opts.ctx)) {
    report.records++;
    if (!outcome.ok) {
      reject({ lines: outcome.lines, issues: outcome.issues });
      opts.onRecord?.(report);
      continue;
    }
    const record = outcome.record;
    const written: WrittenResource[] = [];
    await store.add<Counts>({
      key: patientOf(record) ?? record.recordId,
      size: record.resources.length,
      run: (repo) => {
        written.length = 0; // a batch that lost a race runs again
        return storeRecord(repo, record, written, known);
      },
      settled: async (result) => {
        if (result.ok) {
          report.accepted++;
          known.addAll(record);
          await opts.onStored?.(written);
          add(result.value);
          if (report.warnings.length < maxDetails) report.warnings.push(...record.issues);
          if (opts.medicationRisk) rememberPatient(record, patients);
        } else {
          reject({ lines: [record.line], issues: storeIssues(result.error, record) });
        }
        opts.onRecord?.(report);
      },
    });
  }
  await store.drain();
  if (opts.medicationRisk) {
    for (const patient of patients.values()) {
      const written: WrittenResource[] = [];
      await store.add<Counts>({
        key: patient.id,
        size: 4,
        run: (repo) => {
          written.length = 0;
          return refreshMedicationRisk(repo, patient, opts.ctx, opts.medicationRisk!, written);
        },
        settled: async (result) => {
          if (!result.ok) throw result.error; // derived data: a failure here is a bug, not a bad record
          await opts.onStored?.(written);
          add(result.value);
        },
      });
    }
    await store.drain();
  }
  keepFirst(report.rejects, maxDetails);
  return report;
}

/** Sorts rejects by line and keeps the first `max`. */
function keepFirst(rejects: RejectedRecord[], max: number): void {
  rejects.sort((a, b) => a.lines[0] - b.lines[0]);
  rejects.length = Math.min(rejects.length, max);
}

/** Batching of the store: several records per transaction; lanes only where connections allow. */
function storeBatchOptions(opts: IngestOptions): StoreBatchOptions {
  const postgres = opts.repo.db.kind === 'postgres';
  return {
    lanes: postgres ? (opts.store?.lanes ?? DEFAULT_LANES) : 1,
    records: opts.store?.records ?? DEFAULT_BATCH_RECORDS,
    resources: opts.store?.resources ?? DEFAULT_BATCH_RESOURCES,
  };
}

/** The person a record is about: the lane key, so a person's records stay in file order. */
function patientOf(record: MappedRecord): string | undefined {
  return record.resources.find((r) => r.resource.resourceType === 'Patient')?.resource.id;
}

/**
 * Shared resources known to have a row (current or deleted) after a commit: rows are never
 * removed, so a later record need not ask again. Bounded: forgotten wholesale when full.
 */
export class KnownResources {
  private readonly keys = new Set<string>();

  has(r: Resource & { id: string }): boolean {
    return this.keys.has(`${r.resourceType}/${r.id}`);
  }

  addAll(record: MappedRecord): void {
    if (this.keys.size > 100_000) this.keys.clear();
    for (const { resource, mode } of record.resources) if (mode === 'create-if-absent') this.keys.add(`${resource.resourceType}/${resource.id}`);
  }
}

type Counts = IngestReport['resources'];

/**
 * Writes one mapped record in one transaction (or savepoint unit): all of its resources, or
 * none. A `create-if-absent` resource that is present, or deleted on purpose (a deleted shared
 * resource is not brought back by ingest), is skipped; one query checks them all.
 */
export async function storeRecord(
  repo: Repository,
  record: MappedRecord | { resources: MappedResource[] },
  written?: WrittenResource[],
  known?: KnownResources,
): Promise<Counts> {
  return repo.withTransaction(async (tx) => {
    const counts: Counts = { created: 0, updated: 0, unchanged: 0, skipped: 0 };
    const upserts = record.resources.filter((m) => m.mode === 'upsert').map((m) => m.resource);
    const check = record.resources.filter((m) => m.mode === 'create-if-absent' && !known?.has(m.resource)).map((m) => m.resource);
    const present = await tx.prefetch(upserts, check);
    const toWrite: (Resource & { id: string })[] = [];
    for (const { resource, mode } of record.resources) {
      if (mode === 'create-if-absent' && (known?.has(resource) || present.has(`${resource.resourceType}/${resource.id}`))) counts.skipped++;
      else toWrite.push(resource);
    }
    const results = await tx.updateAll(toWrite).catch((err: unknown) => {
      // Only a concurrent insert of the same id (another lane) makes an update conflict.
      if (err instanceof FhirError && err.status === 409) throw new RetryBatch(err.message);
      throw err;
    });
    results.forEach(({ outcome, resource: stored }, i) => {
      counts[outcome]++;
      const { resourceType, id } = toWrite[i];
      written?.push({ resourceType, id, versionId: stored.meta?.versionId ?? '', outcome });
    });
    return counts;
  });
}

function storeIssues(err: unknown, record: MappedRecord): OperationOutcomeIssue[] {
  const where = `Line[${record.line}]`;
  if (err instanceof FhirError) {
    return (err.outcome.issue ?? []).map((i) => ({
      ...i,
      location: [where],
      diagnostics: `line ${record.line}: ${record.layout} record ${record.recordId} not stored: ${i.diagnostics ?? i.details?.text ?? err.message}`,
    }));
  }
  // Not a FHIR error (database down, bug): let it stop the run rather than reject every record.
  throw err;
}

function rememberPatient(record: MappedRecord, into: Map<string, Patient & { id: string }>): void {
  for (const { resource } of record.resources) {
    if (resource.resourceType === 'Patient') into.set(resource.id, resource as Patient & { id: string });
  }
}

/**
 * Recomputes a person's medication-risk observations from all their stored dispenses, as of
 * their latest fill (deterministic: re-ingesting the same claims changes nothing).
 */
async function refreshMedicationRisk(
  repo: Repository,
  patient: Patient & { id: string },
  ctx: MapContext,
  options: MedicationRiskOptions,
  written?: WrittenResource[],
): Promise<Counts> {
  const req = parseSearchRequest('MedicationDispense', [['subject', `Patient/${patient.id}`], ['_count', '1000']], {
    strict: true,
    defaultCount: 1000,
    maxCount: 1000,
  });
  const found = await repo.search(req); // in the unit's transaction: sees this batch's dispenses
  const dispenses = found.matches.map((m) => JSON.parse(m.content) as MedicationDispense & { id: string });
  const asOf = dispenses.map((d) => d.whenHandedOver?.slice(0, 10) ?? '').sort().at(-1);
  if (!asOf) return { created: 0, updated: 0, unchanged: 0, skipped: 0 };
  const stored = (await repo.read<Patient>('Patient', patient.id)) as Patient & { id: string };
  const resources = assessMedicationRisk({ patient: stored, dispenses, asOf }, ctx, options);
  return storeRecord(repo, { resources }, written);
}
