/**
 * A rate limit for bulk I/O (a node's restore and backup rates): the work that brings the
 * bytes started to N may start at N / rate seconds after the first. Waits end at once on
 * an abort, so a stopped copy or backup is not held by its pace.
 */
export function pacer(
  bytesPerSec: number | undefined,
  signal?: AbortSignal,
): (bytes: number) => Promise<void> {
  if (bytesPerSec === undefined || bytesPerSec <= 0) return async () => {};
  const started = Date.now();
  let bytesStarted = 0;
  return async (bytes: number) => {
    const due = started + (bytesStarted / bytesPerSec) * 1000;
    bytesStarted += bytes;
    const wait = due - Date.now();
    if (wait <= 0 || signal?.aborted) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, wait);
      signal?.addEventListener('abort', done, { once: true });
    });
  };
}
