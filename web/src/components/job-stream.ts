/**
 * Live job changes for a page: one GET /v1/jobs/stream while the page is open (read
 * with fetch, see Api.streamJobs), reconnected after a drop with a short pause. Each
 * change goes to `onJob`; the page merges it into what it shows. `onOpen` runs each time
 * the stream is (re)connected: changes made before it are not sent, so the page reads
 * afresh then.
 */
import { useEffect, useRef } from 'preact/hooks';
import type { JobView } from '../api/client.js';
import { useApp } from '../context.js';

export function useJobStream(onJob: (job: JobView) => void, onOpen?: () => void): void {
  const { api } = useApp();
  const ref = useRef(onJob);
  ref.current = onJob;
  const openRef = useRef(onOpen);
  openRef.current = onOpen;
  useEffect(() => {
    const stop = new AbortController();
    void (async () => {
      while (!stop.signal.aborted) {
        try {
          await api.streamJobs(
            (j) => ref.current(j),
            stop.signal,
            () => openRef.current?.(),
          );
        } catch {
          // dropped or refused: try again shortly (the page still polls on its own actions)
        }
        if (!stop.signal.aborted) await new Promise((r) => setTimeout(r, 2_000));
      }
    })();
    return () => stop.abort();
  }, [api]);
}

export const JOB_ENDED = ['succeeded', 'failed', 'cancelled'];
