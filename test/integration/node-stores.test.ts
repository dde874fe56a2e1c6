// Registering object stores on a node (SPEC Fig. 9): what is kept, what is never shown,
// and clear errors for stores the node cannot use.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isReboundError } from '../../src/errors.js';
import { type NodeFixture, startTestNode } from '../helpers/node-fixture.js';

describe('node object store registry', () => {
  let fx: NodeFixture;
  before(async () => {
    fx = await startTestNode();
  });
  after(() => fx.close());

  it('registers a directory store and lists it', async () => {
    const view = await fx.client.addStore({
      name: 'local',
      provider: 'directory',
      path: join(fx.dataDir, 'backups'),
      tags: { site: 'primary' },
    });
    assert.equal(view.provider, 'directory');
    assert.deepEqual(view.tags, { site: 'primary' });
    assert.deepEqual(
      (await fx.client.listStores()).map((s) => s.name),
      ['local'],
    );
    await assert.rejects(fx.client.addStore({ name: 'local', provider: 'directory', path: '/tmp/x' }), (e) =>
      isReboundError(e, 'ALREADY_EXISTS'),
    );
  });

  it('keeps secrets sealed at rest and never returns them', async () => {
    const secret = 'very-secret-access-key-123';
    const key = 'ab'.repeat(32);
    await assert.rejects(
      fx.client.addStore({
        name: 'nowhere',
        provider: 's3',
        endpoint: 'http://127.0.0.1:1',
        accessKeyId: 'AK',
        secretAccessKey: secret,
        encryption: 'aes-256-gcm',
        encryptionKey: key,
      }),
      (e) => isReboundError(e, 'STORE_UNREACHABLE') && !e.message.includes(secret),
    );
    assert.deepEqual(
      (await fx.client.listStores()).map((s) => s.name),
      ['local'],
      'a store that failed is not kept',
    );
    const enc = await fx.client.addStore({
      name: 'sealed',
      provider: 'directory',
      path: join(fx.dataDir, 'enc'),
      encryption: 'aes-256-gcm',
      encryptionKey: key,
    });
    assert.equal(enc.encryption, 'aes-256-gcm');
    assert.ok(!JSON.stringify(await fx.client.listStores()).includes(key));
    const onDisk = await readFile(join(fx.dataDir, 'stores.json'), 'utf8');
    assert.ok(!onDisk.includes(key), 'the encryption key is sealed in stores.json');
  });

  it('answers a bad registration with the field named', async () => {
    await assert.rejects(
      fx.client.addStore({ name: 'nokey', provider: 'directory', path: '/tmp/y', encryption: 'aes-256-gcm' }),
      (e) => isReboundError(e, 'INVALID_ARGUMENT') && /encryptionKey/.test(e.message),
    );
    await assert.rejects(
      fx.client.addStore({ name: 'nopath', provider: 'directory' }),
      (e) => isReboundError(e, 'INVALID_ARGUMENT') && /path/.test(e.message),
    );
    await fx.client.removeStore('sealed');
    await assert.rejects(fx.client.removeStore('sealed'), (e) => isReboundError(e, 'NOT_FOUND'));
  });
});
