// `lead-gateway serve`: validate configuration, open the store, listen. A bad configuration
// stops start-up with one line naming the variable; SIGTERM/SIGINT close cleanly.
import { loadConfig, ConfigError } from '../config/env.js';
import { createLogger } from '../logger.js';
import { createGateway } from '../gateway.js';
import { createAuth } from '../auth/wiring.js';
import { startWorkers, type Workers } from './worker.js';

export async function serveCommand(env: NodeJS.ProcessEnv, opts: { withWorker?: boolean } = {}): Promise<void> {
  let config;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  let auth;
  try {
    auth = await createAuth(config, logger);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  const gateway = await createGateway({ config, logger, auth: auth.wiring, redis: auth.redis });
  const workers: Workers | undefined = opts.withWorker
    ? await startWorkers({ config, logger, db: gateway.db, storage: gateway.bulk.ctx.storage, metrics: gateway.exchange.metrics, consent: gateway.consent, repo: gateway.repo })
    : undefined;
  const server = gateway.app.listen(config.port, config.host, () => {
    logger.info(
      { port: config.port, store: gateway.db.kind, baseUrl: config.baseUrl },
      `lead-gateway serving FHIR R4 at ${config.baseUrl}/fhir`,
    );
  });
  const stop = (signal: string): void => {
    logger.info({ signal }, 'shutting down');
    server.close(() => {
      void Promise.resolve(workers?.close())
        .then(() => gateway.close())
        .then(() => auth.close())
        .then(() => process.exit(0));
    });
    setTimeout(() => process.exit(1), 10000).unref();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
