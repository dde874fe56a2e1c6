/**
 * The command line shared by the crash loops: `--cycles N [--dir D] [--min-ms A --max-ms B]`,
 * the run, its violations on stderr with exit 1, or its summary line.
 */
import { parseArgs } from 'node:util';

export interface LoopOptions {
  cycles: number;
  dir: string | undefined;
  minMs: number;
  maxMs: number;
  log: (line: string) => void;
}

export async function runLoopCli<R extends { violations: string[] }>(
  name: string,
  defaults: { cycles: number; minMs: number; maxMs: number },
  run: (options: LoopOptions) => Promise<R>,
  summary: (result: R) => string,
): Promise<void> {
  const { values } = parseArgs({
    options: {
      cycles: { type: 'string', default: String(defaults.cycles) },
      dir: { type: 'string' },
      'min-ms': { type: 'string', default: String(defaults.minMs) },
      'max-ms': { type: 'string', default: String(defaults.maxMs) },
    },
  });
  const result = await run({
    cycles: Number(values.cycles),
    dir: values.dir,
    minMs: Number(values['min-ms']),
    maxMs: Number(values['max-ms']),
    log: (line) => console.log(line),
  });
  if (result.violations.length > 0) {
    console.error(`${name.toUpperCase()} FAILED: ${result.violations.length} violation(s):`);
    for (const v of result.violations.slice(0, 50)) console.error(`  ${v}`);
    process.exit(1);
  }
  console.log(`${name} passed: ${summary(result)}`);
}
