// The gateway's write path, built one way for every writer (REST API, ingest worker, ingest /
// align / risk CLIs): a Repository whose writes are labelled (consent labeler, `prepare`),
// validated (R4 + our profiles), routed (exchange outbox rows) and followed by the care hooks
// (risk recomputation marks, change-in-condition intake, subscription events), each in the
// data's transaction. A writer that built a bare Repository would store unlabelled data no one
// is told about.
import type { GatewayConfig } from './config/env.js';
import type { PartnerDirectory } from './config/partners.js';
import type { RepositoryOptions, WriteEvent } from './fhir/store/repository.js';
import { Repository } from './fhir/store/repository.js';
import type { Database, Sql } from './fhir/store/database.js';
import { Validator } from './fhir/validation/validator.js';
import { exchangeWriteHook } from './exchange/exchange.js';
import { Labeler } from './consent/labeler.js';
import { loadValueSets } from './consent/value-sets.js';
import { factsOfStoredText } from './consent/stored-resource.js';
import { TYPE_STORES } from './type-stores.js';
import { riskInputWriteHook } from './risk/risk-pending.js';
import { composeWriteHooks, type WriteHook, type WriteHookContext } from './care/write-hooks.js';
import { changeInConditionHook } from './care/change-in-condition/intake-hook.js';
import { notificationWriteHook } from './notifications/notification-hook.js';

export interface WritePathOptions {
  config: GatewayConfig;
  db: Database;
  partners: PartnerDirectory;
  /** Already loaded (the gateway shares it with the router); otherwise read from profilesDir. */
  validator?: Validator;
  profilesDir?: string;
  /** The exchange's outbox hook when already built; otherwise from the configuration. */
  onWrite?: (tx: Sql, event: WriteEvent) => Promise<void>;
  /** More hooks run after the exchange's, in the same transaction (care coordination). */
  hooks?: WriteHook[];
  /**
   * After each committed transaction, with the resource types it wrote: this process's consent
   * engine empties its disclosure-context cache here before the writer's response is sent.
   */
  afterCommit?: RepositoryOptions['afterCommit'];
  now?: () => Date;
}

export interface WritePath {
  repo: Repository;
  labeler: Labeler;
  validator: Validator;
  /** The same write path bound to one transaction (derived writes of a write hook). */
  repoIn(tx: Sql): Repository;
}

export const DEFAULT_PROFILES_DIR = new URL('../profiles', import.meta.url).pathname;

export function createWritePath(opts: WritePathOptions): WritePath {
  const { config, partners } = opts;
  const validator = opts.validator ?? Validator.fromProfileDir(opts.profilesDir ?? DEFAULT_PROFILES_DIR);
  const labeler = new Labeler({
    valueSets: loadValueSets(),
    part2Organizations: new Set(partners.organizations.filter((o) => o.part2Program).map((o) => o.id)),
  });
  // Hooks that write derived resources get this write path bound to their transaction.
  let repoOpts: RepositoryOptions = {};
  const ctx: WriteHookContext = { repoIn: (tx) => new Repository(opts.db, repoOpts, tx) };
  repoOpts = {
    onWrite: composeWriteHooks([
      async (tx, event) => labeler.observe(tx, event),
      opts.onWrite ?? exchangeWriteHook(config, partners, opts.now),
      // Shared risk: a changed input marks the person for recomputation (src/risk).
      riskInputWriteHook,
      ...(opts.hooks ?? []),
      // Change-in-condition intake (Observations, Flag, Communication) before the topic
      // matching, which then sees the report and what it derived.
      changeInConditionHook(ctx),
      notificationWriteHook({ directory: partners, maxTimeoutSeconds: Math.ceil(config.exchange.requestTimeoutMs / 1000), now: opts.now }),
    ]),
    prepare: (tx, r, known) => labeler.prepare(tx, r, known),
    validate: (r) => validator.validate(r),
    baseUrl: `${config.baseUrl}/fhir`,
    afterCommit: opts.afterCommit,
    typeStores: TYPE_STORES,
    // Found once per version, so a disclosure of it need not scan its text (stored-resource.ts).
    disclosureFacts: factsOfStoredText,
    now: opts.now,
  };
  const repo = new Repository(opts.db, repoOpts);
  return { repo, labeler, validator, repoIn: ctx.repoIn };
}
