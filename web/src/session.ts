/**
 * The signed-in session: the bearer token and who it belongs to, in sessionStorage (per
 * tab, gone when the tab closes; never a cookie, so no other site can ride on it).
 * `fromSignIn` tells a token the console asked for (revoked at sign-out) from an API
 * token pasted in (left alone: the CLI or a script may use it too).
 */
import type { Role } from './api/access.js';

export interface Session {
  token: string;
  user: string;
  role: Role;
  tokenId: string;
  fromSignIn: boolean;
}

const KEY = 'rebound.session';

export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    const s = raw ? (JSON.parse(raw) as Partial<Session>) : null;
    if (!s || typeof s.token !== 'string' || typeof s.user !== 'string' || typeof s.role !== 'string')
      return null;
    return s as Session;
  } catch {
    return null;
  }
}

export function saveSession(s: Session): void {
  sessionStorage.setItem(KEY, JSON.stringify(s));
}

export function clearSession(): void {
  sessionStorage.removeItem(KEY);
}
