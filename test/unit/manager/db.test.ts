// The manager database: migrations apply once and are idempotent on reopen; a newer
// database is refused untouched; a node's volumes sync as added / updated / removed.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { isReboundError } from '../../../src/errors.js';
import { DB_FILE, MIGRATIONS, SqliteManagerDb } from '../../../src/manager/db/index.js';

describe('manager database', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rebound-mdb-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('applies every migration at first open, none on reopen, in WAL mode', async () => {
    const first = SqliteManagerDb.open(dir);
    assert.deepEqual(
      first.applied,
      MIGRATIONS.map((m) => m.version),
    );
    assert.equal(await first.db.schemaVersion(), MIGRATIONS.at(-1)!.version);
    await first.db.addSite({ name: 'dc1', role: 'primary', createdAt: '2025-01-01T00:00:00.000Z' });
    await first.db.close();

    const again = SqliteManagerDb.open(dir);
    assert.deepEqual(again.applied, []);
    assert.deepEqual(
      (await again.db.listSites()).map((s) => s.name),
      ['dc1'],
    );
    await again.db.close();

    const raw = new Database(join(dir, DB_FILE));
    assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
    const rows = raw.prepare('SELECT version FROM schema_migrations').all();
    assert.equal(rows.length, MIGRATIONS.length, 'each version recorded once');
    raw.close();
  });

  it('applies a later migration alone, in a transaction: a failing one leaves nothing behind', async () => {
    const extra = [
      ...MIGRATIONS,
      { version: 99, name: 'broken', sql: 'CREATE TABLE half (x INTEGER); INSERT INTO nowhere VALUES (1);' },
    ];
    assert.throws(() => SqliteManagerDb.open(dir, { migrations: extra }));
    const raw = new Database(join(dir, DB_FILE));
    assert.equal(raw.prepare("SELECT name FROM sqlite_master WHERE name = 'half'").get(), undefined);
    raw.close();
    const good = [...MIGRATIONS, { version: 99, name: 'notes', sql: 'CREATE TABLE notes (x INTEGER);' }];
    const opened = SqliteManagerDb.open(dir, { migrations: good });
    assert.deepEqual(opened.applied, [99]);
    await opened.db.close();
  });

  it('refuses a database newer than the code (DB_SCHEMA_NEWER)', () => {
    assert.throws(
      () => SqliteManagerDb.open(dir),
      (e) => isReboundError(e, 'DB_SCHEMA_NEWER') && /99/.test(e.message),
    );
  });

  it('syncs a node’s volumes: added, updated, removed; keeps what only the manager knows', async () => {
    const d2 = await mkdtemp(join(tmpdir(), 'rebound-mdb-'));
    const { db } = SqliteManagerDb.open(d2);
    const t = '2025-01-01T00:00:00.000Z';
    await db.addSite({ name: 's', role: 'primary', createdAt: t });
    await db.addNode({
      name: 'n1',
      site: 's',
      apiUrl: 'http://x',
      sealedToken: 'v1:x',
      serial: 'AB12CD34',
      health: 'ok',
      healthReason: null,
      healthChangedAt: t,
      lastSeenAt: t,
      createdAt: t,
    });
    const v = (name: string, number: number, usedBytes = 0) => ({
      uniqueId: `AB12CD34:${number}`,
      name,
      serial: 'AB12CD34',
      number,
      sizeBytes: 2 ** 20,
      usedBytes,
      pool: 'pool',
      inheritedUniqueId: null,
      createdAt: t,
    });
    assert.deepEqual(await db.syncNodeVolumes('n1', [v('a', 1), v('b', 2)], t), {
      added: ['AB12CD34:1', 'AB12CD34:2'],
      removed: [],
      updated: [],
    });
    await db.recordBackup('AB12CD34:1', t);
    assert.deepEqual(await db.syncNodeVolumes('n1', [v('a', 1, 65536), v('b', 3)], t), {
      added: ['AB12CD34:3'],
      removed: ['AB12CD34:2'],
      updated: ['AB12CD34:1'],
    });
    const a = await db.getVolume('AB12CD34:1');
    assert.equal(a?.usedBytes, 65536);
    assert.equal(a?.backedUp, true, 'backup state survives a sync');
    assert.equal(a?.lastBackupAt, t);
    await db.removeNode('n1');
    assert.deepEqual(await db.listVolumes(), [], 'a removed node takes its volumes along');
    await db.close();
    await rm(d2, { recursive: true, force: true });
  });
});
