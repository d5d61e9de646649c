// The load generator of bench/fhir-read-search.ts, in its own process so that it does not share
// the server's event loop. Input: one JSON argument (LoadSpec); output: one JSON line (LoadResult).
import autocannon from 'autocannon';
import { observationSearchQuery, patientId } from './fhir-data.js';

export interface LoadSpec {
  url: string; // http://127.0.0.1:port
  /** 'read' → `${pathPrefix}{patient id}`; 'search' → `${pathPrefix}{subject+code query}`. */
  kind: 'read' | 'search';
  pathPrefix: string;
  /** Ids are drawn from 0 … count-1. */
  count: number;
  connections: number;
  duration: number;
  warmup: number;
  /** Sent with every request (e.g. a bearer token). */
  headers?: Record<string, string>;
}

export interface LoadResult {
  requests: number;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  throughputMBs: number;
}

function run(spec: LoadSpec, duration: number): Promise<autocannon.Result> {
  const path = (): string => {
    const i = Math.floor(Math.random() * spec.count);
    return spec.kind === 'read' ? `${spec.pathPrefix}${patientId(i)}` : `${spec.pathPrefix}${observationSearchQuery(i)}`;
  };
  return autocannon({
    url: spec.url,
    connections: spec.connections,
    duration,
    timeout: 10,
    headers: { accept: 'application/fhir+json', ...spec.headers },
    requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, path: path() }) }],
  });
}

const spec = JSON.parse(process.argv[2]) as LoadSpec;
if (spec.warmup > 0) await run(spec, spec.warmup);
const r = await run(spec, spec.duration);
const out: LoadResult = {
  requests: r.requests.total,
  rps: r.requests.average,
  p50: r.latency.p50,
  p90: r.latency.p90,
  p99: r.latency.p99,
  max: r.latency.max,
  non2xx: r.non2xx,
  errors: r.errors,
  timeouts: r.timeouts,
  throughputMBs: r.throughput.average / 1e6,
};
process.stdout.write(`${JSON.stringify(out)}\n`);
