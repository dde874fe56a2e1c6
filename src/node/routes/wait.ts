/**
 * The `?waitMs=` of a long poll (GET of a task or a pair): digits by schema, bounded here,
 * so a wait past MAX_WAIT_MS is refused by name rather than held for a minute.
 */
import { ReboundError } from '../../errors.js';
import { MAX_WAIT_MS } from '../api-schema.js';

export function waitMsOf(raw: string | undefined): number {
  if (raw === undefined) return 0;
  const ms = Number(raw);
  if (!Number.isSafeInteger(ms) || ms > MAX_WAIT_MS)
    throw new ReboundError('INVALID_ARGUMENT', `waitMs: ${raw} is past the longest wait, ${MAX_WAIT_MS} ms`);
  return ms;
}
