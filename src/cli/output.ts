/**
 * How commands print: `--json` prints the API's JSON as it is (for scripts), otherwise a
 * table or key/value lines for people. Errors go to stderr with their code and what to do.
 */
import { ERROR_CODES, isReboundError } from '../errors.js';

export interface OutputOptions {
  json?: boolean;
}

export function printTable(rows: Record<string, string | number | boolean>[], columns: string[]): void {
  if (rows.length === 0) {
    console.log('(none)');
    return;
  }
  const cells = [
    columns.map((c) => c.toUpperCase()),
    ...rows.map((r) => columns.map((c) => String(r[c] ?? ''))),
  ];
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  for (const row of cells)
    console.log(
      row
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    );
}

export function printRecord(record: Record<string, unknown>): void {
  const width = Math.max(...Object.keys(record).map((k) => k.length));
  for (const [k, v] of Object.entries(record)) {
    const text = Array.isArray(v) ? v.join(', ') || '-' : v === null || v === undefined ? '-' : String(v);
    console.log(`${`${k}:`.padEnd(width + 2)}${text}`);
  }
}

export function emit(options: OutputOptions, data: unknown, human: () => void): void {
  if (options.json) console.log(JSON.stringify(data ?? null, null, 2));
  else human();
}

/** Print an error for a person (or as JSON) and give the exit code. */
export function reportError(err: unknown, json: boolean): number {
  if (isReboundError(err)) {
    if (json)
      console.error(JSON.stringify({ error: { code: err.code, message: err.message, detail: err.detail } }));
    else {
      console.error(`error: ${err.message} (${err.code})`);
      const hint = ERROR_CODES[err.code].doc;
      if (hint && !err.message.includes(hint)) console.error(`  ${hint}`);
    }
    return err.code === 'INVALID_ARGUMENT' ? 2 : 1;
  }
  const message = err instanceof Error ? err.message : String(err);
  console.error(json ? JSON.stringify({ error: { code: 'INTERNAL', message } }) : `error: ${message}`);
  return 1;
}
