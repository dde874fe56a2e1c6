// The web console end to end, by clicks in headless Chromium against a real manager and
// a real node: an admin signs in, registers a directory object store (and an S3 one whose
// secret never comes back), creates a volume and finds it with its unique ID, sees the
// manager's error beside the form that caused it, opens the volume's details, deletes it
// (gone from the node too), and signs out. Screenshots of every page go to
// test-artifacts/console/. Requires Debian's chromium (scripts/test.sh installs it).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { isReboundError } from '../../src/errors.js';
import { launchChromium, newPage, screenshot, watchPage } from '../helpers/browser.js';
import { ADMIN_PASSWORD, type ConsoleStack, startConsoleStack } from '../helpers/console-fixture.js';

const S3_SECRET = 'S3-secret-from-the-console-5b7d';

describe('web console: an admin at work', () => {
  let stack: ConsoleStack;
  let browser: Browser;
  let page: Page;
  let problems: string[];
  let storeDir: string;

  before(async () => {
    stack = await startConsoleStack();
    storeDir = await mkdtemp(join(tmpdir(), 'rebound-console-store-'));
    browser = await launchChromium();
    page = await newPage(browser);
    problems = watchPage(page);
  });
  after(async () => {
    await browser?.close();
    await stack?.close();
    if (storeDir) await rm(storeDir, { recursive: true, force: true });
  });

  it('serves the console at / and signs the admin in with a password', async () => {
    await page.goto(stack.url);
    await page.getByRole('form', { name: 'Sign in' }).waitFor();
    await page.getByLabel('User').fill('admin');
    await page.getByLabel('Password').fill('not-the-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const err = page.getByRole('form', { name: 'Sign in' }).getByRole('alert');
    assert.match(await err.innerText(), /wrong user name or password/);
    assert.match(await err.innerText(), /UNAUTHORIZED/);
    await screenshot(page, '01-sign-in-refused');

    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Volumes', level: 1 }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/volumes');
    assert.equal(await page.getByTestId('who').locator('.user').textContent(), 'admin');
    assert.equal(await page.getByTestId('role').textContent(), 'admin');
    for (const nav of ['Volumes', 'Object stores', 'Sites and nodes', 'Logs', 'Users and tokens']) {
      assert.ok(await page.getByRole('navigation').getByRole('link', { name: nav }).isVisible(), nav);
    }
    await screenshot(page, '02-volumes-empty');
  });

  it('registers a directory object store, and an S3 one whose secret is never shown again', async () => {
    await page.getByRole('navigation').getByRole('link', { name: 'Object stores' }).click();
    await page.getByRole('button', { name: 'Add object store' }).click();
    const form = page.getByRole('form', { name: 'Register an object store' });
    await form.getByLabel('Name').fill('local');
    await form.getByLabel('Path').fill(storeDir);
    await form.getByLabel('Region').fill('on-site');
    await form.getByLabel('Tags').fill('team=storage, tier=gold');
    await screenshot(page, '03-store-form');
    await form.getByRole('button', { name: 'Add store' }).click();
    const table = page.getByRole('table', { name: 'Object stores' });
    await table.getByRole('row', { name: /local/ }).waitFor();
    const stored = await stack.admin.getStore('local');
    assert.deepEqual(
      { provider: stored.provider, path: stored.path, region: stored.region, tags: stored.tags },
      { provider: 'directory', path: storeDir, region: 'on-site', tags: { team: 'storage', tier: 'gold' } },
    );

    await page.getByRole('button', { name: 'Add object store' }).click();
    await form.getByLabel('Provider').selectOption('s3');
    await form.getByLabel('Name').fill('offsite');
    await form.getByLabel('Endpoint').fill('http://127.0.0.1:7480');
    await form.getByLabel('Access key ID').fill('AKIDCONSOLE');
    await form.getByLabel('Secret key').fill(S3_SECRET);
    await form.getByLabel('Encryption', { exact: true }).selectOption('aes-256-gcm');
    await form.getByLabel('Encryption key').fill('abc'); // not 64 hex digits: the manager names the field
    await form.getByRole('button', { name: 'Add store' }).click();
    const alert = form.locator('.field-error');
    await alert.waitFor();
    assert.equal(await form.locator('.field.invalid').getAttribute('data-field'), 'encryptionKey');
    assert.match(await form.getByRole('alert').last().innerText(), /INVALID_ARGUMENT/);
    await screenshot(page, '04-store-form-error');
    await form.getByLabel('Encryption key').fill('0f'.repeat(32));
    await form.getByRole('button', { name: 'Add store' }).click();
    const row = table.getByRole('row', { name: /offsite/ });
    await row.waitFor();
    assert.match(await row.innerText(), /set \(hidden\)/);
    assert.match(await row.innerText(), /aes-256-gcm/);
    assert.ok(!(await page.content()).includes(S3_SECRET), 'the secret is not on the page');
    await screenshot(page, '05-stores');
  });

  let uniqueId: string;

  it('creates a volume on the node and lists it with its unique ID', async () => {
    await page.getByRole('navigation').getByRole('link', { name: 'Volumes' }).click();
    await page.getByRole('button', { name: 'Add volume' }).click();
    const form = page.getByRole('form', { name: 'Add a volume' });
    await form.getByRole('option', { name: 'n1 (dc1)' }).waitFor({ state: 'attached' }); // nodes load with the form
    assert.equal(await form.getByLabel('Node').inputValue(), 'n1');
    await form.getByLabel('Name').fill('db1');
    await form.getByLabel('Size', { exact: true }).fill('2');
    await form.getByLabel('Size unit').selectOption('GiB');
    await screenshot(page, '06-volume-form');
    await form.getByRole('button', { name: 'Add volume' }).click();
    const row = page.getByRole('table', { name: 'Volumes' }).getByRole('row', { name: /db1/ });
    await row.waitFor();
    const onNode = await stack.node.client.getVolume('db1');
    uniqueId = onNode.uniqueId;
    assert.equal(onNode.sizeBytes, 2 * 2 ** 30);
    assert.match(uniqueId, new RegExp(`^${stack.node.node.serial}:\\d+$`));
    const cells = await row.getByRole('cell').allInnerTexts();
    assert.deepEqual(cells.slice(0, 5), ['db1', uniqueId, 'n1 · dc1', 'ok', '2 GiB']);
    await screenshot(page, '07-volumes');
  });

  it('shows the manager’s error next to the form that caused it, keeping what was typed', async () => {
    await page.getByRole('button', { name: 'Add volume' }).click();
    const form = page.getByRole('form', { name: 'Add a volume' });
    await form.getByLabel('Name').fill('db1');
    await form.getByRole('button', { name: 'Add volume' }).click();
    const alert = form.getByRole('alert');
    await alert.waitFor();
    assert.match(await alert.innerText(), /ALREADY_EXISTS/);
    assert.match(await alert.innerText(), /db1/);
    assert.equal(await form.getByLabel('Name').inputValue(), 'db1');
    await screenshot(page, '08-volume-form-error');
    await form.getByRole('button', { name: 'Cancel' }).click();
    assert.equal(await page.getByRole('form', { name: 'Add a volume' }).count(), 0);
  });

  it('opens the volume’s details: management information, unique and inherited IDs', async () => {
    await page.getByRole('table', { name: 'Volumes' }).getByRole('link', { name: 'db1' }).click();
    await page.getByRole('heading', { name: 'db1', level: 1 }).waitFor();
    assert.equal(decodeURIComponent(new URL(page.url()).pathname), `/volumes/${uniqueId}`);
    assert.equal(await page.getByTestId('unique-id').innerText(), uniqueId);
    assert.match(await page.getByTestId('inherited-id').innerText(), /none/);
    const text = await page.locator('.details').innerText();
    for (const want of [
      stack.node.node.serial,
      'Volume number',
      'n1',
      'dc1',
      '2 GiB (2,147,483,648 bytes)',
      'not yet',
    ]) {
      assert.ok(text.includes(want), `details show ${want}`);
    }
    await screenshot(page, '09-volume-details');
    // A link to the page works on its own (the manager answers index.html for it).
    await page.reload();
    await page.getByTestId('unique-id').waitFor();
    assert.equal(await page.getByTestId('unique-id').innerText(), uniqueId);
  });

  it('deletes the volume after asking, and it is gone from the node', async () => {
    await page.getByRole('button', { name: 'Delete db1' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete volume db1?' });
    await dialog.waitFor();
    assert.match(await dialog.innerText(), new RegExp(uniqueId));
    await screenshot(page, '10-delete-confirm');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    assert.ok(await stack.node.client.getVolume('db1'), 'cancel deletes nothing');
    await page.getByRole('button', { name: 'Delete db1' }).click();
    await dialog.getByRole('button', { name: 'Delete volume' }).click();
    await page.getByRole('heading', { name: 'Volumes', level: 1 }).waitFor();
    await page.getByText('No volumes yet').waitFor();
    await assert.rejects(stack.node.client.getVolume('db1'), (e) => isReboundError(e, 'NOT_FOUND'));
    await screenshot(page, '11-volume-deleted');
  });

  it('shows sites and nodes, the logs and the users', async () => {
    await page.getByRole('navigation').getByRole('link', { name: 'Sites and nodes' }).click();
    const node = page.getByRole('table', { name: 'Nodes' }).getByRole('row', { name: /n1/ });
    await node.waitFor();
    assert.match(await node.innerText(), /ok/);
    assert.match(await node.innerText(), new RegExp(stack.node.node.serial));
    await node.getByRole('button', { name: 'Check n1 now' }).click();
    await screenshot(page, '12-sites-and-nodes');

    await page.getByRole('navigation').getByRole('link', { name: 'Logs' }).click();
    const events = page.getByRole('table', { name: 'Event log' });
    await events
      .getByRole('row', { name: /store\.added/ })
      .first()
      .waitFor();
    await screenshot(page, '13-event-log');
    await page.getByRole('tab', { name: 'Audit' }).click();
    const audit = page.getByRole('table', { name: 'Audit log' });
    await audit
      .getByRole('row', { name: /DELETE/ })
      .first()
      .waitFor();
    assert.match(await audit.innerText(), new RegExp(`/v1/volumes/${uniqueId}`));
    await screenshot(page, '14-audit-log');

    await page.getByRole('navigation').getByRole('link', { name: 'Users and tokens' }).click();
    await page.getByRole('table', { name: 'Users' }).getByRole('row', { name: /admin/ }).waitFor();
    await page.getByRole('button', { name: 'Create token' }).click();
    const form = page.getByRole('form', { name: 'Create an API token' });
    await form.getByLabel('Name').fill('ci');
    await form.getByRole('button', { name: 'Create token' }).click();
    const token = (await page.getByTestId('new-token').innerText()).trim();
    assert.match(token, /^rbt_/);
    assert.equal((await stack.admin.listTokens('admin')).filter((t) => t.name === 'ci').length, 1);
    await screenshot(page, '15-users-and-tokens');
  });

  it('signs out, revoking the session’s token, and back in with an API token', async () => {
    const before = (await stack.admin.listTokens('admin')).filter((t) => t.name === 'sign-in').length;
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('form', { name: 'Sign in' }).waitFor();
    const afterOut = (await stack.admin.listTokens('admin')).filter((t) => t.name === 'sign-in').length;
    assert.equal(afterOut, before - 1, 'the sign-in token is revoked');
    await page.getByRole('tab', { name: 'API token' }).click();
    await page.getByLabel('Token', { exact: true }).fill(stack.adminToken);
    await screenshot(page, '16-sign-in-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Volumes', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('form', { name: 'Sign in' }).waitFor();
    assert.equal((await stack.admin.whoami()).user, 'admin', 'a pasted token is left alone at sign-out');
    assert.deepEqual(problems, []);
  });
});
