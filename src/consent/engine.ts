// The consent engine behind filterForRecipient(): for one disclosure (a REST response, a bulk
// export page, an exchange delivery) it loads what the decisions need once — the recipient's
// relationships and the Consents of every person on the page, one query each — then decides each
// resource (decision-point.ts), applies the obligations, and writes one AuditEvent. Any error
// withholds everything (fail closed). Nothing is cached across disclosures, so a new or revoked
// Consent takes effect on the very next request.
import type { Resource } from '@medplum/fhirtypes';
import type { PartnerDirectory } from '../config/partners.js';
import type { DisclosurePolicy } from '../config/policy.js';
import type { Database } from '../fhir/store/database.js';
import { outcomes } from '../fhir/outcomes.js';
import type { SearchRequest } from '../fhir/search/search-request.js';
import type { AuditTrail, DisclosureChannel } from './audit.js';
import { inForce } from './consent-evaluation.js';
import { consentsFor } from './consent-store.js';
import { decide, type RecipientProfile } from './decision-point.js';
import type { FilterResult, Recipient } from './filter.js';
import { labelsOf, type Labeler } from './labeler.js';
import { applyObligations } from './obligations.js';
import { patientsOf } from './patients-of.js';
import { relatedAmong } from './relationship.js';

export interface ConsentEngineOptions {
  db: Database;
  partners: Pick<PartnerDirectory, 'findOrganization'>;
  policy: DisclosurePolicy;
  labeler: Labeler;
  /** Absent: no audit (unit tests of the engine only). */
  audit?: AuditTrail;
  now?: () => Date;
}

export class ConsentEngine {
  constructor(readonly opts: ConsentEngineOptions) {}

  /** The recipient as the policy sees it; undefined for an organization not in the directory. */
  profile(recipient: Recipient): RecipientProfile | undefined {
    const org = this.opts.partners.findOrganization(recipient.organizationId);
    if (!org) return undefined;
    return { organizationId: org.id, organizationType: org.type, purposeOfUse: recipient.purposeOfUse, clientId: recipient.clientId };
  }

  async filter<T extends Resource>(recipient: Recipient, resources: T[], channel: DisclosureChannel = 'disclosure'): Promise<FilterResult<T>> {
    if (!resources.length) return { permitted: [], withheld: 0 };
    try {
      return await this.filterUnsafe(recipient, resources, channel);
    } catch {
      // Fail closed: a store, policy or audit error discloses nothing (and says nothing more).
      return { permitted: [], withheld: resources.length };
    }
  }

  private async filterUnsafe<T extends Resource>(recipient: Recipient, resources: T[], channel: DisclosureChannel): Promise<FilterResult<T>> {
    const profile = this.profile(recipient);
    if (!profile) return { permitted: [], withheld: resources.length };
    const now = (this.opts.now ?? (() => new Date()))();
    const items = resources.map((resource) => {
      const labels = labelsOf(resource);
      // Re-label at read time too: versions stored before the labeler (or its current value
      // sets) existed must not pass as normal data (§4.3 C7).
      if (!this.opts.labeler.labelledByCurrentRules(resource)) {
        for (const c of this.opts.labeler.codeLabels(resource)) labels.actCodes.add(c);
        if (labels.actCodes.size && labels.confidentiality !== 'V') labels.confidentiality = 'R';
      }
      return { resource, labels, patientIds: patientsOf(resource) };
    });
    const people = [...new Set(items.flatMap((i) => i.patientIds))];
    const [related, consents] = await Promise.all([
      profile.organizationType === 'SMA' ? new Set(people) : relatedAmong(this.opts.db, profile, people),
      consentsFor(this.opts.db, people),
    ]);
    const inForceByPatient = new Map([...consents].map(([p, list]) => [p, inForce(list, now)]));

    const permitted: T[] = [];
    const disclosedPeople = new Set<string>();
    const basedOn: string[] = [];
    const rules: string[] = [];
    for (const item of items) {
      const d = decide({
        recipient: profile,
        resource: item.resource,
        labels: item.labels,
        patientIds: item.patientIds,
        related: (p) => related.has(p),
        consents: (p) => inForceByPatient.get(p) ?? [],
        policy: this.opts.policy,
        now,
      });
      rules.push(d.rule);
      if (d.effect !== 'permit' || !d.obligations) continue;
      basedOn.push(...d.basedOn);
      for (const p of item.patientIds) disclosedPeople.add(p);
      permitted.push(applyObligations(item.resource, d.obligations) as T);
    }
    const withheld = resources.length - permitted.length;
    await this.opts.audit?.record({
      recipient: profile,
      channel,
      disclosed: permitted,
      withheld,
      patientIds: [...disclosedPeople],
      basedOn,
      rules,
    });
    return { permitted, withheld };
  }

  /** Whether the client may use search features that can reveal hidden data. */
  cleared(recipient: Recipient): boolean {
    return !!recipient.clientId && this.opts.policy.clearedClients.clientIds.includes(recipient.clientId);
  }

  /**
   * Refuses, before any data is read, the requests whose answer could reveal withheld data
   * (§4.3 C2, C3, C5, C7, C13): `_has`, chained parameters, `_security` search, counts and
   * totals, and instance history. The refusal is the same whatever the data, so it is no oracle.
   */
  screen(recipient: Recipient, interaction: 'search' | 'history' | 'conditional', sreq?: SearchRequest): void {
    if (this.cleared(recipient)) return;
    // Conditional create/update/delete match over every stored resource, hidden ones included
    // (§4.3 C15): only the SMA, the program's data steward, may use them.
    if (interaction === 'conditional') {
      if (this.profile(recipient)?.organizationType === 'SMA') return;
      throw outcomes.forbidden('Conditional operations are not available to this client');
    }
    if (interaction === 'history') throw outcomes.forbidden('History is not available to this client');
    if (!sreq) return;
    if (sreq.ignored.some((k) => k.startsWith('_has'))) throw outcomes.badRequest('_has is not available to this client', ['_has']);
    if (sreq.filters.some((f) => f.chain)) throw outcomes.badRequest('Chained search parameters are not available to this client');
    if (sreq.filters.some((f) => f.code === '_security')) throw outcomes.badRequest('_security is not available to this client', ['_security']);
    if (sreq.summary === 'count') throw outcomes.badRequest('_summary=count is not available to this client', ['_summary']);
    if (sreq.total !== 'none') throw outcomes.badRequest('_total is not available to this client', ['_total']);
  }
}
