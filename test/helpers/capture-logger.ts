/** A pino logger whose JSON lines a test can read back (what an operator's log would show). */
import { Writable } from 'node:stream';
import { pino } from 'pino';

export function captureLogger(level = 'info'): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { logger: pino({ level }, sink), lines };
}
