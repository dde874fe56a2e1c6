/** What every page gets from the shell: the session, an API client with its token, and sign-out. */
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import { type ApiRoute, can } from './api/access.js';
import type { Api } from './api/client.js';
import type { Session } from './session.js';

export interface AppState {
  session: Session;
  api: Api;
  signOut(reason?: string): void;
}

export const AppContext = createContext<AppState | null>(null);

export function useApp(): AppState {
  const app = useContext(AppContext);
  if (!app) throw new Error('useApp outside the signed-in shell');
  return app;
}

/** May the signed-in user call `route`? Mutating controls are drawn only when it may. */
export function useCan(route: ApiRoute): boolean {
  return can(useApp().session.role, route);
}
