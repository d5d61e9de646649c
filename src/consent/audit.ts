// One FHIR AuditEvent per disclosure (REST read/search/history, bulk export page, exchange
// delivery), stored as an ordinary resource so the SMA can query it through the API
// (`AuditEvent?entity=Patient/x` is the accounting of disclosures for a person;
// `AuditEvent?agent=Organization/y` what a partner received). It holds references and codes only:
// no names, identifiers or content. Decision: a full AuditEvent rather than a compact table —
// one store, one search engine, one access rule (policy.json restrictedTypes: SMA only).
import type { AuditEvent, AuditEventEntity, Resource } from '@medplum/fhirtypes';
import type { Repository } from '../fhir/store/repository.js';
import type { RecipientProfile } from './decision-point.js';
import { ACT_REASON } from './vocabulary.js';

export type DisclosureChannel = 'read' | 'vread' | 'history' | 'search' | 'bulk-export' | 'exchange' | 'disclosure';

export interface DisclosureRecord {
  recipient: RecipientProfile;
  channel: DisclosureChannel;
  disclosed: Resource[];
  withheld: number;
  patientIds: string[];
  /** Consent ids and policy URIs behind the permits. */
  basedOn: string[];
  /** Decision rules that applied (tpo, part2-consent, …), for review. */
  rules: string[];
}

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const CHANNEL_SYSTEM = 'https://lead-gateway.example.org/fhir/CodeSystem/disclosure-channel';
const RULE_SYSTEM = 'https://lead-gateway.example.org/fhir/CodeSystem/disclosure-rule';
export const CLIENT_ID_SYSTEM = 'https://lead-gateway.example.org/fhir/sid/client-id';

export function auditEventFor(rec: DisclosureRecord, recorded: Date): AuditEvent {
  const entity: AuditEventEntity[] = [
    ...rec.patientIds.map((id) => ({
      what: { reference: `Patient/${id}` },
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '1', display: 'Person' },
      role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1', display: 'Patient' },
    })),
    ...rec.disclosed.map((r) => ({
      what: { reference: `${r.resourceType}/${r.id}${r.meta?.versionId ? `/_history/${r.meta.versionId}` : ''}` },
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' },
      role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '4', display: 'Domain Resource' },
    })),
  ];
  const purpose = [{ coding: [{ system: ACT_REASON, code: rec.recipient.purposeOfUse }] }];
  return {
    resourceType: 'AuditEvent',
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'RESTful Operation' },
    subtype: [{ system: CHANNEL_SYSTEM, code: rec.channel }, ...[...new Set(rec.rules)].sort().map((code) => ({ system: RULE_SYSTEM, code }))],
    action: 'R',
    recorded: recorded.toISOString(),
    outcome: '0',
    outcomeDesc: `disclosed ${rec.disclosed.length}, withheld ${rec.withheld}`,
    purposeOfEvent: purpose,
    agent: [
      {
        type: { coding: [{ system: DCM, code: '110152', display: 'Destination Role ID' }] },
        who: { reference: `Organization/${rec.recipient.organizationId}` },
        altId: rec.recipient.clientId,
        requestor: true,
        policy: [...new Set(rec.basedOn)].sort(),
        purposeOfUse: purpose,
      },
      {
        type: { coding: [{ system: DCM, code: '110153', display: 'Source Role ID' }] },
        who: { display: 'LEAD FHIR Gateway' },
        requestor: false,
      },
    ],
    source: { observer: { display: 'LEAD FHIR Gateway' }, type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4', display: 'Application Server' }] },
    entity,
  };
}

export class AuditTrail {
  /** `repo` writes without the labeler or validation: audit records are server-made. */
  constructor(
    private readonly repo: Repository,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async record(rec: DisclosureRecord): Promise<void> {
    await this.repo.create(auditEventFor(rec, this.now()));
  }
}
