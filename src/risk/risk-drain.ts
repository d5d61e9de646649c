// The drain: claims marked people (risk-pending.ts), recomputes each one's shared
// RiskAssessment through the gateway's write path, and releases the mark. Runs in every worker
// process (`lead-gateway worker`, `serve --with-worker`); any number of them share the work.
import type { Database } from '../fhir/store/database.js';
import type { Repository } from '../fhir/store/repository.js';
import { FhirError } from '../fhir/outcomes.js';
import type { Logger } from '../logger.js';
import type { RiskProtocol } from './protocol.js';
import { recomputePatient } from './recompute.js';
import { claimPending, completeClaim, failClaim } from './risk-pending.js';

export interface RiskDrainOptions {
  db: Database;
  repo: Repository;
  protocol: RiskProtocol;
  logger?: Logger;
  /** Pause when nothing is pending. */
  intervalMs?: number;
  /** People claimed per round. */
  batchSize?: number;
  /** A claimed person is left alone this long; after it another worker may take them. */
  leaseMs?: number;
  now?: () => Date;
}

export interface DrainCounts {
  claimed: number;
  created: number;
  updated: number;
  unchanged: number;
  failed: number;
}

/** One round: claim up to batchSize people and recompute them. Tests and the CLI call it directly. */
export async function drainOnce(opts: RiskDrainOptions): Promise<DrainCounts> {
  const counts: DrainCounts = { claimed: 0, created: 0, updated: 0, unchanged: 0, failed: 0 };
  const claims = await claimPending(opts.db, opts.batchSize ?? 50, opts.leaseMs ?? 60000);
  counts.claimed = claims.length;
  for (const claim of claims) {
    try {
      const r = await recomputePatient({ repo: opts.repo, sql: opts.db, protocol: opts.protocol, now: opts.now }, claim.patientId);
      if (r.outcome !== 'no-patient') counts[r.outcome]++;
      await completeClaim(opts.db, claim);
    } catch (err) {
      counts.failed++;
      // Reasons only: an error's text could quote resource content.
      const reason = err instanceof FhirError ? `${err.status} ${err.outcome.issue?.[0]?.code ?? ''}` : (err as Error).name;
      opts.logger?.warn({ reason }, 'risk recomputation failed; retried later');
      await failClaim(opts.db, claim, reason).catch(() => undefined);
    }
  }
  return counts;
}

/** Rounds until nothing is left to claim now (leased or backed-off people stay for later). */
export async function drainAll(opts: RiskDrainOptions): Promise<DrainCounts> {
  const total: DrainCounts = { claimed: 0, created: 0, updated: 0, unchanged: 0, failed: 0 };
  for (;;) {
    const c = await drainOnce(opts);
    for (const k of Object.keys(total) as (keyof DrainCounts)[]) total[k] += c[k];
    if (c.claimed === 0) return total;
  }
}

export interface RiskDrain {
  close(): Promise<void>;
}

export function startRiskDrain(opts: RiskDrainOptions): RiskDrain {
  let running = true;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  const loop = (async () => {
    while (running) {
      try {
        const c = await drainOnce(opts);
        if (c.claimed) opts.logger?.debug({ ...c }, 'risk recomputation round');
        if (c.claimed === 0) await sleep(opts.intervalMs ?? 1000);
      } catch (err) {
        // Database unreachable and the like: wait and try again.
        opts.logger?.warn({ err: (err as Error).name }, 'risk drain round failed');
        await sleep(opts.intervalMs ?? 1000);
      }
    }
  })();
  return {
    async close() {
      running = false;
      wake?.();
      await loop;
    },
  };
}
