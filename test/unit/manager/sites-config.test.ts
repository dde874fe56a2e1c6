// The site provider and host hook configs: what the manager API will validate with.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isReboundError } from '../../../src/errors.js';
import {
  openSiteProvider,
  parseHostHookConfig,
  parseSiteProviderConfig,
} from '../../../src/manager/sites/index.js';
import { siteDirectory } from '../../../src/manager/sites/site-dir.js';

function invalid(fn: () => unknown, field: string): string {
  try {
    fn();
  } catch (err) {
    assert.ok(isReboundError(err, 'INVALID_ARGUMENT'), String(err));
    assert.equal(err.detail?.field, field, err.message);
    return err.message;
  }
  assert.fail('expected INVALID_ARGUMENT');
}

describe('site provider config', () => {
  const ctx = { dataDir: '/var/lib/rebound' };

  it('opens each type from its config', () => {
    assert.equal(openSiteProvider({ type: 'local' }, ctx).type, 'local');
    assert.equal(openSiteProvider({ type: 'command', build: 'b', teardown: 't' }, ctx).type, 'command');
    assert.equal(
      openSiteProvider({ type: 'static', url: 'http://10.0.0.5:7700', token: 'x' }, ctx).type,
      'static',
    );
  });

  it('rejects an unknown type, missing scripts, stray fields and bad values, naming the field', () => {
    invalid(() => parseSiteProviderConfig({ type: 'cloud' }), 'type');
    invalid(() => parseSiteProviderConfig(null), 'type');
    invalid(() => parseSiteProviderConfig({ type: 'command', build: 'b' }), 'teardown');
    invalid(() => parseSiteProviderConfig({ type: 'command', build: '', teardown: 't' }), 'build');
    invalid(
      () => parseSiteProviderConfig({ type: 'command', build: 'b', teardown: 't', timeoutSeconds: 0 }),
      'timeoutSeconds',
    );
    invalid(() => parseSiteProviderConfig({ type: 'local', poolSize: '10G' }), 'poolSize');
    invalid(() => parseSiteProviderConfig({ type: 'local', tls: { mode: 'maybe' } }), 'tls.mode');
    invalid(() => parseSiteProviderConfig({ type: 'static', url: 'node-b:7700', token: 't' }), 'url');
  });

  it('never echoes a value in the message (a static config holds a token)', () => {
    const message = invalid(
      () => parseSiteProviderConfig({ type: 'static', url: 'http://x:1', token: 'tok-SECRET', extra: 1 }),
      'extra',
    );
    assert.ok(!message.includes('tok-SECRET'), message);
  });

  it('checks host hooks: a command, an optional timeout', () => {
    assert.deepEqual(parseHostHookConfig({ command: 'virsh start app1', timeoutSeconds: 60 }), {
      command: 'virsh start app1',
      timeoutSeconds: 60,
    });
    invalid(() => parseHostHookConfig({ command: '' }), 'command');
    invalid(() => parseHostHookConfig({ command: 'x', timeoutSeconds: 1.5 }), 'timeoutSeconds');
  });

  it('keeps a site name one harmless path segment', () => {
    assert.equal(siteDirectory('/data', 'dr-1'), '/data/sites/dr-1');
    for (const bad of ['..', '../etc', 'a/b', '', '.hidden'])
      invalid(() => siteDirectory('/data', bad), 'site');
  });
});
