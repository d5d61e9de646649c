// Prometheus metrics of the exchange (prom-client). Counters and the latency histogram are
// recorded by the delivery worker of this process; the queue depth (Redis) and the delivery
// log states (database) are read at scrape time, so any process's /metrics shows the whole
// deployment's backlog. Labels are organization ids and states: never a patient or resource.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface MetricsSources {
  /** BullMQ job counts per destination queue. */
  queueCounts?: () => Promise<{ destination: string; counts: Record<string, number> }[]>;
  /** Delivery log rows per destination and state. */
  deliveryStates?: () => Promise<{ destination: string; state: string; n: number }[]>;
}

export interface ExchangeMetrics {
  registry: Registry;
  delivery(destination: string, outcome: 'delivered' | 'dead' | 'withheld'): void;
  attempt(destination: string, outcome: string): void;
  latency(destination: string, seconds: number): void;
  setSources(sources: MetricsSources): void;
}

export function createExchangeMetrics(): ExchangeMetrics {
  const registry = new Registry();
  let sources: MetricsSources = {};
  const deliveries = new Counter({
    name: 'lead_exchange_deliveries_total',
    help: 'Deliveries finished by this process, by destination organization and outcome',
    labelNames: ['destination', 'outcome'],
    registers: [registry],
  });
  const attempts = new Counter({
    name: 'lead_exchange_delivery_attempts_total',
    help: 'Delivery attempts made by this process, by destination and outcome (delivered, retry, dead, withheld)',
    labelNames: ['destination', 'outcome'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'lead_exchange_delivery_latency_seconds',
    help: 'Commit of the data to the receiver accepting it (end to end), by destination',
    labelNames: ['destination'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
    registers: [registry],
  });
  new Gauge({
    name: 'lead_exchange_queue_jobs',
    help: 'BullMQ delivery jobs by destination and job state (waiting, active, delayed, failed, …)',
    labelNames: ['destination', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const q of (await sources.queueCounts?.().catch(() => [])) ?? []) {
        for (const [state, n] of Object.entries(q.counts)) this.set({ destination: q.destination, state }, n);
      }
    },
  });
  new Gauge({
    name: 'lead_exchange_deliveries',
    help: 'Deliveries in the delivery log by destination and state (pending = committed, not yet queued)',
    labelNames: ['destination', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const r of (await sources.deliveryStates?.().catch(() => [])) ?? []) this.set({ destination: r.destination, state: r.state }, r.n);
    },
  });
  return {
    registry,
    delivery: (destination, outcome) => deliveries.inc({ destination, outcome }),
    attempt: (destination, outcome) => attempts.inc({ destination, outcome }),
    latency: (destination, seconds) => latency.observe({ destination }, seconds),
    setSources(s) {
      sources = { ...sources, ...s };
    },
  };
}
