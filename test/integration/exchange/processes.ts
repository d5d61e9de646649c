// Child processes for the exchange fault tests: `lead-gateway worker` processes (to SIGKILL)
// and private redis-server instances on free ports (to stop and restart) — never the shared
// Redis on 6379.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

export interface ChildHandle {
  child: ChildProcess;
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
}

export function spawnCli(args: string[], env: Record<string, string>, logFile: string): ChildHandle {
  const child = spawn(process.execPath, ['bin/lead-gateway.js', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = createWriteStream(logFile, { flags: 'a' });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, exited, kill: (signal) => void child.kill(signal) };
}

export interface PrivateRedis {
  url: string;
  start(): Promise<void>;
  /** SIGKILL: Redis dies with its data (no persistence configured). */
  kill(): Promise<void>;
}

/** A redis-server of our own, without persistence: a restart loses every job it held. */
export async function privateRedis(dir: string): Promise<PrivateRedis> {
  const port = await freePort();
  let proc: ChildProcess | undefined;
  const r: PrivateRedis = {
    url: `redis://127.0.0.1:${port}`,
    async start() {
      proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
      for (let i = 0; i < 100; i++) {
        const ok = await new Promise<boolean>((res) => {
          const c = spawn('redis-cli', ['-p', String(port), 'ping'], { stdio: ['ignore', 'pipe', 'ignore'] });
          let out = '';
          c.stdout!.on('data', (d) => (out += String(d)));
          c.on('exit', () => res(out.includes('PONG')));
        });
        if (ok) return;
        await new Promise((res) => setTimeout(res, 100));
      }
      throw new Error('private redis-server did not start');
    },
    async kill() {
      if (!proc) return;
      const p = proc;
      proc = undefined;
      if (p.exitCode !== null || p.signalCode !== null) return;
      const gone = new Promise((res) => p.once('exit', res));
      p.kill('SIGKILL');
      await gone;
    },
  };
  await r.start();
  return r;
}

export const logPath = (dir: string, name: string): string => join(dir, `${name}.log`);
