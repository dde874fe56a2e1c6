/**
 * Users and API tokens over the database: sign-in, issuing a token (the secret returned
 * once, only its hash kept), and the bootstrap admin made at first start.
 */
import { ReboundError } from '../errors.js';
import { hashPassword, hashToken, newApiToken, newTokenId, verifyPassword } from './auth.js';
import { type Clock, isoTime } from './clock.js';
import type { ManagerDb, Role, TokenRecord, UserRecord } from './db/types.js';

export interface IssuedToken {
  token: string;
  record: TokenRecord;
  role: Role;
}

export async function issueToken(
  db: ManagerDb,
  clock: Clock,
  user: UserRecord,
  name: string,
  ttlMs: number | null,
): Promise<IssuedToken> {
  const token = newApiToken();
  const record: TokenRecord = {
    id: newTokenId(),
    user: user.name,
    name,
    tokenHash: hashToken(token),
    createdAt: isoTime(clock),
    expiresAt: ttlMs === null ? null : new Date(clock.now() + ttlMs).toISOString(),
    lastUsedAt: null,
  };
  await db.addToken(record);
  return { token, record, role: user.role };
}

/** A token for the user if the password is right; one message for a wrong user or password. */
export async function signIn(
  db: ManagerDb,
  clock: Clock,
  userName: string,
  password: string,
  ttlMs: number,
): Promise<IssuedToken> {
  const user = await db.getUser(userName);
  const ok = await verifyPassword(password, user?.passwordHash ?? null);
  if (!user || !ok) throw new ReboundError('UNAUTHORIZED', 'wrong user name or password');
  return issueToken(db, clock, user, 'sign-in', ttlMs);
}

export async function createUser(
  db: ManagerDb,
  clock: Clock,
  u: { name: string; role: Role; password?: string | null },
): Promise<UserRecord> {
  const record: UserRecord = {
    name: u.name,
    role: u.role,
    passwordHash: u.password ? await hashPassword(u.password) : null,
    createdAt: isoTime(clock),
  };
  await db.addUser(record);
  return record;
}

export const BOOTSTRAP_USER = 'admin';

/**
 * At first start (no users at all): an `admin` user with no password and a token that
 * never expires, for the caller to print once. Later starts return undefined.
 */
export async function bootstrapAdmin(db: ManagerDb, clock: Clock): Promise<IssuedToken | undefined> {
  if ((await db.countUsers()) > 0) return undefined;
  const user = await createUser(db, clock, { name: BOOTSTRAP_USER, role: 'admin' });
  return issueToken(db, clock, user, 'bootstrap', null);
}
