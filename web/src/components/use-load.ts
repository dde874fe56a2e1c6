/**
 * Data for a page: `load` runs on mount and whenever `deps` change; `reload()` after a
 * change; with `refreshMs` it runs again on that interval while the tab is visible (node
 * health, logs). An answer that arrives after a newer request started is dropped.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { type Api, ApiError } from '../api/client.js';
import { useApp } from '../context.js';

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  reload(): Promise<void>;
}

export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  return new ApiError('INTERNAL', err instanceof Error ? err.message : String(err), 0);
}

export function useLoad<T>(
  load: (api: Api) => Promise<T>,
  deps: readonly unknown[],
  options: { refreshMs?: number } = {},
): Loaded<T> {
  const { api } = useApp();
  const [state, setState] = useState<{ data?: T; error?: ApiError; loading: boolean }>({ loading: true });
  const seq = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  const reload = useCallback(async () => {
    const mine = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    try {
      const data = await loadRef.current(api);
      if (mine === seq.current) setState({ data, loading: false });
    } catch (err) {
      if (mine === seq.current) setState((s) => ({ data: s.data, error: toApiError(err), loading: false }));
    }
  }, [api, ...deps]);

  useEffect(() => {
    void reload();
    return () => {
      seq.current++; // drop answers for a page that is gone
    };
  }, [reload]);

  const { refreshMs } = options;
  useEffect(() => {
    if (!refreshMs) return;
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') void reload();
    }, refreshMs);
    return () => clearInterval(timer);
  }, [reload, refreshMs]);

  return { data: state.data, error: state.error, loading: state.loading, reload };
}
