import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isReboundError } from '../../../src/errors.js';
import { DirectoryStore, openStore } from '../../../src/objectstore/index.js';
import { objectStoreConformance } from '../../helpers/objectstore-conformance.js';

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'rebound-dirstore-'));
}

objectStoreConformance('DirectoryStore', async () => {
  const dir = await tempDir();
  const store = new DirectoryStore(join(dir, 'store'));
  return {
    store,
    close: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe('DirectoryStore specifics', () => {
  it('maps keys to files under the root and leaves no temp files behind', async () => {
    const dir = await tempDir();
    try {
      const s = new DirectoryStore(dir);
      assert.equal(s.description, `dir:${dir}`);
      await s.put('vol/1/data/0001', Buffer.from('abc'));
      assert.deepEqual(await readdir(join(dir, 'vol/1/data')), ['0001']);
      await s.delete('vol/1/data/0001');
      assert.deepEqual(await readdir(dir), [], 'empty directories are pruned');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('ignores temp files a crash left behind', async () => {
    const dir = await tempDir();
    try {
      const s = new DirectoryStore(dir);
      await s.put('k/a', Buffer.from('a'));
      await writeFile(join(dir, 'k', '~tmp-1-deadbeef'), 'partial');
      const keys: string[] = [];
      for await (const o of s.list('')) keys.push(o.key);
      assert.deepEqual(keys, ['k/a']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses an object below another object, naming both (a file cannot be a directory)', async () => {
    const dir = await tempDir();
    try {
      const s = new DirectoryStore(dir);
      await s.put('a/b', Buffer.from('x'));
      await assert.rejects(s.put('a/b/c', Buffer.from('y')), (err: unknown) => {
        assert.ok(isReboundError(err, 'INVALID_ARGUMENT'));
        assert.match(err.message, /a\/b\/c.*a\/b/);
        return true;
      });
      await assert.rejects(s.put('a', Buffer.from('y')), (err: unknown) =>
        isReboundError(err, 'INVALID_ARGUMENT'),
      );
      assert.equal((await s.get('a/b')).toString(), 'x');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('openStore builds one from a directory config', async () => {
    const dir = await tempDir();
    try {
      const s = await openStore({ kind: 'directory', path: dir });
      await s.put('x', Buffer.from('1'));
      assert.equal((await s.get('x')).toString(), '1');
      await s.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
