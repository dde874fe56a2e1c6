/**
 * db/: everything the manager keeps, behind one interface (ManagerDb) so a PostgreSQL
 * backend can follow. SQLite (better-sqlite3, WAL) in the data directory is the default;
 * the schema moves forward by numbered migrations applied at open.
 */
export { migrate, schemaVersion } from './migrate.js';
export { MIGRATIONS, type Migration } from './migrations/index.js';
export { DB_FILE, SqliteManagerDb } from './sqlite.js';
export type * from './types.js';
