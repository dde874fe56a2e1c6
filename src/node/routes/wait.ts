/**
 * The `?waitMs=` of a long poll (GET of a task or a pair): digits by schema, bounded here,
 * so a wait past MAX_WAIT_MS is refused by name rather than held for a minute.
 */
import { ReboundError } from '../../errors.js';
import { MAX_WAIT_MS } from '../api-schema.js';

/**
 * Hold a request until `wait` resolves, or at once when the node starts to stop: the API
 * closes only once every request in flight has ended (a held 30 s poll once kept a node
 * from stopping for 94 s).
 */
export async function heldUntil(wait: Promise<void>, stopping: AbortSignal): Promise<void> {
  if (stopping.aborted) return;
  let stop = () => {};
  const stopped = new Promise<void>((r) => {
    stop = () => r();
  });
  stopping.addEventListener('abort', stop, { once: true });
  try {
    await Promise.race([wait, stopped]);
  } finally {
    stopping.removeEventListener('abort', stop);
  }
}

export function waitMsOf(raw: string | undefined): number {
  if (raw === undefined) return 0;
  const ms = Number(raw);
  if (!Number.isSafeInteger(ms) || ms > MAX_WAIT_MS)
    throw new ReboundError('INVALID_ARGUMENT', `waitMs: ${raw} is past the longest wait, ${MAX_WAIT_MS} ms`);
  return ms;
}
