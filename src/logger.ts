/**
 * The process logger: pino, JSON lines on stderr (stdout stays for command output).
 * REBOUND_LOG_LEVEL sets the level (default info). Secrets are redacted by path.
 */
import { pino } from 'pino';

export type Logger = pino.Logger;

export function createLogger(name: string): Logger {
  return pino(
    {
      name,
      level: process.env.REBOUND_LOG_LEVEL ?? 'info',
      redact: [
        'token',
        '*.token',
        'secret',
        '*.secret',
        'headers.authorization',
        'req.headers.authorization',
      ],
    },
    pino.destination(2),
  );
}

/** A logger that drops everything, for library code whose caller passed none. */
export const silentLogger: Logger = pino({ level: 'silent' });
