// The disclosure context (disclosure-context.ts) kept across requests, so a repeated page of the
// same people runs no query and a page with new people reads only those. Kept per person: their
// Consents as stored (whoever asks; which are in force is decided per request, engine.ts, as it
// depends on the time), and per (organization, person) whether they are related.
//
// Every change to what the context reads — a Patient, Coverage, Group or Consent row of
// `resource` (relationship.ts, consent-store.ts; their index rows change in the same
// transaction) — empties it:
//   * this process's writes through the write path, synchronously once their transaction has
//     committed (Repository `afterCommit`), before the writer's response is sent: the very next
//     request sees them;
//   * every other writer's (the ingest worker in another process, another gateway, psql) when
//     the notification of the trigger of migration 9 arrives on the LISTEN connection — within
//     milliseconds of its commit. This is the documented short bound (docs/consent.md);
//   * a fill whose query began before an emptying is not stored (generation check), so a read
//     racing a change outlives neither the change's afterCommit nor its notification;
//   * while the LISTEN connection is down nothing is served from memory (every request reads
//     the store), and the cache starts empty once it listens again, so a notification missed
//     meanwhile cannot leave a stale entry. A connection that died silently is found by its
//     ping (database.ts) within 15 s: the bound in that rare case.
import type { Consent } from '@medplum/fhirtypes';
import type { Database, Sql } from '../fhir/store/database.js';
import { EVERYONE, readDisclosureContext, type DisclosureContext } from './disclosure-context.js';
import type { RelationshipParty } from './relationship.js';

/** The channel migration 9's trigger notifies (payload: the schema of the changed table). */
export const DISCLOSURE_CONTEXT_CHANNEL = 'lead_disclosure_context';

/** The resource types the relationship and Consent queries read (and the trigger watches). */
export const CONTEXT_TYPES: ReadonlySet<string> = new Set(['Patient', 'Coverage', 'Group', 'Consent']);

const NO_CONSENTS: readonly Consent[] = Object.freeze([]);

export class DisclosureContextCache {
  /** Bumped by every emptying: a fill is stored only under the generation its query began in. */
  private generation = 0;
  private listening = false;
  private schema: string | undefined;
  private unlisten: (() => Promise<void>) | undefined;
  /** Person → their Consents (shared by every request: read, never changed). */
  private readonly consents = new Map<string, readonly Consent[]>();
  /** `type|organization|person` → related. Not kept for the SMA (related to everyone). */
  private readonly related = new Map<string, boolean>();

  constructor(private readonly maxEntries = 200_000) {}

  /** Whether get() may answer from memory: listening for changes. */
  get serving(): boolean {
    return this.listening;
  }

  /**
   * Listens for changes in `db`'s schema. Until it listens (and whenever the connection is lost)
   * every get() reads the store.
   */
  async start(db: Pick<Database, 'listen' | 'query'>): Promise<void> {
    this.schema = (await db.query<{ schema: string }>('SELECT current_schema() AS schema')).rows[0]?.schema;
    this.unlisten = await db.listen(
      DISCLOSURE_CONTEXT_CHANNEL,
      (payload) => {
        if (payload === null) {
          this.invalidate(); // listening (again): changes before now may have gone unheard
          this.listening = true;
        } else if (payload === this.schema) this.invalidate();
      },
      () => {
        this.listening = false;
        this.invalidate();
      },
    );
  }

  async stop(): Promise<void> {
    this.listening = false;
    this.invalidate();
    const unlisten = this.unlisten;
    this.unlisten = undefined;
    await unlisten?.();
  }

  invalidate(): void {
    this.generation++;
    this.consents.clear();
    this.related.clear();
  }

  /** A transaction of this process committed writes of these types (Repository afterCommit). */
  written(resourceTypes: ReadonlySet<string>): void {
    for (const t of resourceTypes) {
      if (CONTEXT_TYPES.has(t)) return this.invalidate();
    }
  }

  /** What disclosureContext() returns, reading only the people (and relationships) not held. */
  async get(sql: Sql, party: RelationshipParty, patientIds: string[]): Promise<DisclosureContext> {
    if (!this.listening) return readDisclosureContext(sql, party, patientIds, patientIds);
    const generation = this.generation;
    const sma = party.organizationType === 'SMA';
    const prefix = `${party.organizationType}|${party.organizationId}|`;
    const related = new Set<string>();
    const consents = new Map<string, Consent[]>();
    const relatedMisses: string[] = [];
    const consentMisses: string[] = [];
    for (const p of patientIds) {
      const list = this.consents.get(p);
      if (!list) consentMisses.push(p);
      else if (list.length) consents.set(p, list as Consent[]);
      if (sma) continue; // related to everyone: nothing to look up or keep
      const r = this.related.get(prefix + p);
      if (r === undefined) relatedMisses.push(p);
      else if (r) related.add(p);
    }
    const context = { related: sma ? EVERYONE : related, consents };
    if (!relatedMisses.length && !consentMisses.length) return context;
    // Usually the same people miss both: one list, bound once.
    const same = relatedMisses.length === consentMisses.length && relatedMisses.every((p, i) => p === consentMisses[i]);
    const read = await readDisclosureContext(sql, party, relatedMisses, same ? relatedMisses : consentMisses);
    for (const p of relatedMisses) if (read.related.has(p)) related.add(p);
    for (const [p, list] of read.consents) consents.set(p, list);
    // Read under an older generation: a change may have committed after the query's snapshot.
    if (this.generation !== generation) return context;
    for (const p of relatedMisses) this.related.set(prefix + p, read.related.has(p));
    for (const p of consentMisses) this.consents.set(p, read.consents.get(p) ?? NO_CONSENTS);
    this.trim();
    return context;
  }

  /** Entries held (tests, metrics). */
  get size(): number {
    return this.consents.size + this.related.size;
  }

  /** Over the bound: the oldest tenth goes (Maps iterate in insertion order), from both maps alike. */
  private trim(): void {
    const size = this.size;
    if (size <= this.maxEntries) return;
    const drop = size - Math.floor(this.maxEntries * 0.9);
    for (const m of [this.consents, this.related] as Map<string, unknown>[]) {
      let n = Math.ceil((drop * m.size) / size);
      for (const k of m.keys()) {
        if (n-- <= 0) break;
        m.delete(k);
      }
    }
  }
}
