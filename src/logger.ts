// Structured JSON logs. Never log a resource body, a name or an identifier of a patient:
// log resource types, ids we minted, counts, durations and request ids only.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string = 'info'): Logger {
  return pino({
    level,
    base: { service: 'lead-gateway' },
    // Defence in depth: if a body or identifier ever reaches a log call, drop it.
    redact: { paths: ['body', 'resource', 'req.body', '*.identifier', '*.name', 'patient'], remove: true },
  });
}

/** A silent logger for tests and library use. */
export const silentLogger: Logger = pino({ level: 'silent' });
