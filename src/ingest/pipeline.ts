// The ingest pipeline: parse → schema-check → map → validate → store, with ONE database
// transaction per source record. Resources are written by id (deterministic, from the mapper):
// `upsert` resources through Repository.update, which makes no new version when the content is
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
import { parseSource, type SourceFormat } from './parse.js';

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
  const reject = (r: RejectedRecord) => {
    report.rejected++;
    if (report.rejects.length < maxDetails) report.rejects.push(r);
  };
  const patients = new Map<string, Patient & { id: string }>();

  for await (const outcome of mapSource(parseSource(input, { format: opts.format, maxRecordBytes: opts.maxRecordBytes }), opts.layout, opts.ctx)) {
    report.records++;
    if (!outcome.ok) {
      reject({ lines: outcome.lines, issues: outcome.issues });
    } else {
      try {
        const written: WrittenResource[] = [];
        const counts = await storeRecord(opts.repo, outcome.record, written);
        report.accepted++;
        await opts.onStored?.(written);
        for (const k of Object.keys(counts) as (keyof typeof counts)[]) report.resources[k] += counts[k];
        if (report.warnings.length < maxDetails) report.warnings.push(...outcome.record.issues);
        if (opts.medicationRisk) rememberPatient(outcome.record, patients);
      } catch (err) {
        reject({ lines: [outcome.record.line], issues: storeIssues(err, outcome.record) });
      }
    }
    opts.onRecord?.(report);
  }
  if (opts.medicationRisk) {
    for (const patient of patients.values()) {
      const written: WrittenResource[] = [];
      const counts = await refreshMedicationRisk(opts.repo, patient, opts.ctx, opts.medicationRisk, written);
      await opts.onStored?.(written);
      for (const k of Object.keys(counts) as (keyof typeof counts)[]) report.resources[k] += counts[k];
    }
  }
  return report;
}

type Counts = IngestReport['resources'];

/** Writes one mapped record in one transaction: all of its resources, or none. */
export async function storeRecord(
  repo: Repository,
  record: MappedRecord | { resources: MappedResource[] },
  written?: WrittenResource[],
): Promise<Counts> {
  return repo.withTransaction(async (tx) => {
    const counts: Counts = { created: 0, updated: 0, unchanged: 0, skipped: 0 };
    for (const { resource, mode } of record.resources) {
      if (mode === 'create-if-absent' && (await exists(tx, resource))) {
        counts.skipped++;
        continue;
      }
      const { outcome, resource: stored } = await tx.update(resource);
      counts[outcome]++;
      written?.push({ resourceType: resource.resourceType, id: resource.id, versionId: stored.meta?.versionId ?? '', outcome });
    }
    return counts;
  });
}

/** Present, or deleted on purpose (a deleted shared resource is not brought back by ingest). */
async function exists(repo: Repository, r: Resource & { id: string }): Promise<boolean> {
  try {
    await repo.readText(r.resourceType, r.id);
    return true;
  } catch (err) {
    if (err instanceof FhirError && err.status === 410) return true;
    if (err instanceof FhirError && err.status === 404) return false;
    throw err;
  }
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
  const found = await repo.search(req);
  const dispenses = found.matches.map((m) => JSON.parse(m.content) as MedicationDispense & { id: string });
  const asOf = dispenses.map((d) => d.whenHandedOver?.slice(0, 10) ?? '').sort().at(-1);
  if (!asOf) return { created: 0, updated: 0, unchanged: 0, skipped: 0 };
  const stored = (await repo.read<Patient>('Patient', patient.id)) as Patient & { id: string };
  const resources = assessMedicationRisk({ patient: stored, dispenses, asOf }, ctx, options);
  return storeRecord(repo, { resources }, written);
}
