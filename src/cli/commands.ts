// Commands registered by src/cli/main.ts beside `serve` (main.ts imports this file if present).
import type { Command } from 'commander';
import type { SigningAlg } from '../auth/gateway-keys.js';
import { keysGenerate } from './keys.js';
import { token } from './token.js';
import { workerCommand } from './worker.js';
import { registerDeliveries } from './deliveries.js';
import { registerRisk } from './risk.js';

export function register(program: Command): void {
  program
    .command('worker')
    .description('Run the queue workers (Bulk Data export) until SIGTERM')
    .action(async () => {
      await workerCommand(process.env);
    });

  registerDeliveries(program, process.env);
  registerRisk(program, process.env);

  const keys = program.command('keys').description('SMART Backend Services client keys');
  keys
    .command('generate')
    .description('Generate a client key pair; prints the private JWKS and the public JWKS for the partner entry')
    .option('--alg <alg>', 'ES384 or RS384', 'ES384')
    .option('--out <file>', 'write the private JWKS to this file (mode 0600) instead of printing it')
    .action(async (o: { alg: string; out?: string }) => {
      await keysGenerate({ alg: o.alg as SigningAlg, out: o.out });
    });

  program
    .command('token')
    .description('Get an access token from a running gateway with a client assertion (for trying the flow by hand)')
    .requiredOption('--client <clientId>', 'client_id registered in the partner directory')
    .requiredOption('--key-file <file>', "the client's private JWKS, e.g. config/demo/sma-admin.private.jwks.json")
    .option('--token-url <url>', 'the token endpoint: BASE_URL + /auth/token, exactly (it is the assertion aud)', 'http://localhost:8080/auth/token')
    .option('--scope <scope>', 'requested scopes', 'system/*.rs')
    .action(async (o: { client: string; keyFile: string; tokenUrl: string; scope: string }) => {
      try {
        await token({ client: o.client, keyFile: o.keyFile, tokenUrl: o.tokenUrl, scope: o.scope });
      } catch (err) {
        process.stderr.write(`${(err as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}
