/**
 * Versioned migrations for SQLite: `schema_migrations` lists the versions applied; each
 * missing one runs in its own transaction with its row, so a crash leaves the database
 * at a whole version. A database newer than this code is refused, never touched.
 */
import type Database from 'better-sqlite3';
import { ReboundError } from '../../errors.js';
import type { Migration } from './migrations/index.js';

/** Apply the missing migrations; returns the versions applied now (empty when up to date). */
export function migrate(db: Database.Database, migrations: readonly Migration[], at: string): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
  )`);
  const applied = new Set(
    (db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map(
      (r) => r.version,
    ),
  );
  const known = Math.max(0, ...migrations.map((m) => m.version));
  const newest = Math.max(0, ...applied);
  if (newest > known) {
    throw new ReboundError(
      'DB_SCHEMA_NEWER',
      `the manager database is at schema version ${newest}; this Rebound knows up to ${known}`,
      { detail: { version: newest, known } },
    );
  }
  const done: number[] = [];
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.version, m.name, at);
    })();
    done.push(m.version);
  }
  return done;
}

export function schemaVersion(db: Database.Database): number {
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null };
  return row.v ?? 0;
}
