// The resource types kept in tables of their own (fhir/store/type-store.ts), for every place that
// reads or describes resources: the write path's Repository, the CapabilityStatement, bulk export.
// AuditEvents are the audit trail's rows, rendered when read, never written through the API.
import { auditEventStore } from './consent/audit-events.js';
import type { TypeStore } from './fhir/store/type-store.js';

export const TYPE_STORES: readonly TypeStore[] = [auditEventStore];

export const typeStoreOf = (resourceType: string): TypeStore | undefined => TYPE_STORES.find((t) => t.resourceType === resourceType);
