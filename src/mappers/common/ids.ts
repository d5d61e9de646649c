// Deterministic resource ids: the same source record always yields the same ids, so re-ingesting
// a file rewrites the same resources and an amendment makes a new version of each, never a copy.
import { createHash } from 'node:crypto';

// A fixed namespace for RFC 4122 §4.3 name-based (version 5, SHA-1) UUIDs.
const NAMESPACE = Buffer.from('6f1d3c6e8b2a4c1e9a7d2f4b5c6d7e8f', 'hex');

/** RFC 4122 version-5 UUID of `parts.join('|')` in the gateway namespace. */
export function deterministicId(...parts: string[]): string {
  const hash = createHash('sha1').update(NAMESPACE).update(parts.join('|'), 'utf8').digest();
  hash[6] = (hash[6] & 0x0f) | 0x50; // version 5
  hash[8] = (hash[8] & 0x3f) | 0x80; // RFC 4122 variant
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Short content digest, used to give each distinct version of a record its own Provenance. */
export function contentDigest(value: unknown): string {
  return createHash('sha256').update(stableStringify(value)).digest('hex').slice(0, 16);
}

function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
