// RISK_* settings: read once with the rest of the configuration; a bad value names the variable.
import { resolve } from 'node:path';
import { ConfigError, loadConfig } from '../../../src/config/env.js';

describe('risk configuration', () => {
  it('defaults to the shipped protocol and a 1 s drain', () => {
    expect(loadConfig({}).risk).toEqual({ protocolFile: resolve('config/risk/shared-risk-protocol.json'), drainIntervalMs: 1000, batchSize: 50, leaseMs: 60000 });
  });

  it('takes RISK_PROTOCOL_FILE and the drain settings from the environment', () => {
    const c = loadConfig({ RISK_PROTOCOL_FILE: 'agreements/protocol-2.json', RISK_DRAIN_INTERVAL_MS: '250', RISK_BATCH_SIZE: '10', RISK_LEASE_MS: '5000' });
    expect(c.risk).toEqual({ protocolFile: resolve('agreements/protocol-2.json'), drainIntervalMs: 250, batchSize: 10, leaseMs: 5000 });
  });

  it('rejects a bad value naming the variable', () => {
    expect(() => loadConfig({ RISK_BATCH_SIZE: '0' })).toThrow(ConfigError);
    expect(() => loadConfig({ RISK_LEASE_MS: 'soon' })).toThrow(/RISK_LEASE_MS/);
  });
});
