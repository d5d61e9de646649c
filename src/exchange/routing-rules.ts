// Who receives a committed resource: pure, no database and no network, so the rules are
// tested as a table (test/unit/exchange/routing-rules.test.ts) and documented in
// docs/exchange.md.
//
//   Medicaid side (SMA, MCO, HIE) → ACO: every ACO whose active agreement names the source as
//     its medicaidPartner and lists the data class, and to which the beneficiary is aligned:
//     the roster file, the Patient's generalPractitioner / managingOrganization, or a roster
//     Group the ACO manages (the relationship the consent engine checks, consent/relationship.ts).
//   ACO → Medicaid side: every medicaidPartner of an active agreement of the source ACO that
//     lists the data class, and that has a relationship with the beneficiary
//     (consent/relationship.ts: SMA all, MCO active Coverage, HIE attribution).
//   Never back to the source; never to an organization without an endpoint.
import type { Agreement, PartnerDirectory } from '../config/partners.js';

export interface Beneficiary {
  /** ACO ids the person is aligned to by the roster file. */
  acos: string[];
  /** Whether an organization has a relationship with the person (consent/relationship.ts). */
  relatedTo(organizationId: string): Promise<boolean> | boolean;
}

export interface RoutingInput {
  sourceOrg: string;
  dataClass: string;
  /** The day routing is decided for (YYYY-MM-DD): agreement periods are inclusive dates. */
  date: string;
  beneficiary: Beneficiary;
}

export interface Route {
  destination: string;
  agreementId: string;
  purposeOfUse: string;
}

export function isActive(a: Agreement, date: string): boolean {
  return a.period.start <= date && (!a.period.end || date <= a.period.end);
}

export async function decideRoutes(directory: Pick<PartnerDirectory, 'agreements' | 'findOrganization'>, input: RoutingInput): Promise<Route[]> {
  const routes = new Map<string, Route>();
  for (const a of directory.agreements) {
    if (!isActive(a, input.date) || !a.dataClasses.includes(input.dataClass)) continue;
    let destination: string | undefined;
    if (a.medicaidPartner === input.sourceOrg) {
      if (input.beneficiary.acos.includes(a.aco) || (await input.beneficiary.relatedTo(a.aco))) destination = a.aco;
    } else if (a.aco === input.sourceOrg) {
      if (await input.beneficiary.relatedTo(a.medicaidPartner)) destination = a.medicaidPartner;
    }
    if (!destination || destination === input.sourceOrg || routes.has(destination)) continue;
    if (!directory.findOrganization(destination)?.endpoint) continue;
    routes.set(destination, { destination, agreementId: a.id, purposeOfUse: a.purposeOfUse });
  }
  return [...routes.values()];
}
