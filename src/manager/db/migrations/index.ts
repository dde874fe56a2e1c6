/**
 * The manager database's migrations, in order. Each is one numbered SQL script, applied
 * once in a transaction and recorded in `schema_migrations`. Never edit one that has
 * shipped: add the next number.
 */
import { sql as registry } from './0001-registry.js';
import { sql as jobs } from './0002-jobs.js';
import { sql as dr } from './0003-dr.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'registry', sql: registry },
  { version: 2, name: 'jobs', sql: jobs },
  { version: 3, name: 'dr', sql: dr },
];
