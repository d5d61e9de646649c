// What a failed delivery attempt means for the next step (BullMQ's idea: the error type says
// what happens next). A receiver's 400/403/404/422 will fail the same way again: dead letter
// now (UnrecoverableError). A 429/503 asks us to come back after Retry-After (RFC 9110 §10.2.3);
// 5xx, timeouts, refused connections and token failures are worth retrying with backoff.
import type { OperationOutcome } from '@medplum/fhirtypes';
import { PartnerTokenError } from '../../auth/outbound-client.js';

export interface DeliveryFailure {
  retryable: boolean;
  httpStatus?: number;
  /** From Retry-After on 429/503. */
  retryAfterMs?: number;
  /** The receiver's OperationOutcome, when it sent one. */
  outcome?: OperationOutcome;
  /** Short, PHI-free description for the delivery log. */
  message: string;
}

/** Thrown to BullMQ for a retryable failure; the backoff strategy reads retryAfterMs. */
export class RetryableDeliveryError extends Error {
  override name = 'RetryableDeliveryError';
  constructor(message: string, public readonly retryAfterMs?: number) {
    super(message);
  }
}

/** Retry-After as delta-seconds or an HTTP-date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

const RETRYABLE_STATUS = new Set([401, 408, 409, 425, 429, 500, 502, 503, 504]);

export function classifyFailure(err: unknown): DeliveryFailure {
  if (err instanceof PartnerTokenError) {
    return { retryable: true, httpStatus: err.status, message: `token request failed${err.status ? `: HTTP ${err.status}` : ''}${err.oauthError ? ` ${err.oauthError}` : ''}` };
  }
  const e = err as { response?: { status?: number; data?: unknown }; config?: { headers?: Headers }; name?: string; message?: string };
  const status = e?.response?.status;
  if (typeof status === 'number') {
    const data = e.response?.data as { resourceType?: string } | undefined;
    const outcome = data && typeof data === 'object' && data.resourceType === 'OperationOutcome' ? (data as OperationOutcome) : undefined;
    const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(e.config?.headers?.get?.('retry-after')) : undefined;
    return { retryable: RETRYABLE_STATUS.has(status) || status >= 500, httpStatus: status, retryAfterMs, outcome, message: `receiver answered HTTP ${status}` };
  }
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return { retryable: true, message: 'receiver did not answer in time' };
  const cause = (err as { cause?: { code?: string } })?.cause?.code;
  return { retryable: true, message: cause ? `network error ${cause}` : `delivery error: ${String(e?.message ?? err).slice(0, 200)}` };
}
