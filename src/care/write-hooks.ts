// Write hooks: what else happens, inside a write's transaction, when a resource is committed.
// The exchange writes outbox rows; the care-coordination parts (risk recomputation, change-in-
// condition reports, subscription notifications) add theirs here. Every hook runs in the data's
// transaction, so either all of their effects commit with the data or none do.
import type { Sql } from '../fhir/store/database.js';
import type { Repository, WriteEvent } from '../fhir/store/repository.js';

export type WriteHook = (tx: Sql, event: WriteEvent) => Promise<void>;

/** What the write path hands a hook that writes derived resources itself. */
export interface WriteHookContext {
  /**
   * The write path's Repository bound to `tx`: derived writes are labelled, validated and
   * routed like any other, and commit or roll back with the write that caused them.
   */
  repoIn(tx: Sql): Repository;
}

/** A hook built once the write path exists (it needs `repoIn`). */
export type WriteHookFactory = (ctx: WriteHookContext) => WriteHook;

/** One hook running each of `hooks` in order (undefined entries are skipped). */
export function composeWriteHooks(hooks: (WriteHook | undefined)[]): WriteHook | undefined {
  const present = hooks.filter((h): h is WriteHook => !!h);
  if (present.length <= 1) return present[0];
  return async (tx, event) => {
    for (const hook of present) await hook(tx, event);
  };
}
