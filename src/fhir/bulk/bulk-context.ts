// What the $export handlers share, built once by createBulkExport (gateway.ts).
import type { BulkExportConfig } from '../../config/env.js';
import type { Database } from '../store/database.js';
import type { ExportQueue } from './export-queue.js';
import type { ExportStorage } from './export-storage.js';

export interface BulkContext {
  db: Database;
  storage: ExportStorage;
  queue: ExportQueue;
  config: BulkExportConfig;
  fhirBase: string;
  now: () => Date;
  /** True when /fhir needs a bearer token (then the files need it too). */
  requiresAccessToken: boolean;
  statusUrl(exportId: string): string;
  fileUrl(exportId: string, file: string): string;
}

export function bulkUrls(fhirBase: string): Pick<BulkContext, 'statusUrl' | 'fileUrl'> {
  return {
    statusUrl: (id) => `${fhirBase}/bulk-status/${id}`,
    fileUrl: (id, file) => `${fhirBase}/bulk-files/${id}/${file}`,
  };
}
