// The console by role, in headless Chromium against a real manager and node. A viewer
// sees no mutating control on any page: not disabled, absent (every control left on a
// page is marked data-safe: filters, sort headers, tabs, refresh), no navigation to the
// admin pages, and the manager still answers 403 when the viewer's own token calls a
// mutating route directly. The backup, DR and job pages too: a viewer sees the settings,
// the generations timeline, the heat map, the DR dashboard and the jobs, and can start
// nothing (no run, verify, restore, back up, fail over or back, cancel), and the restore
// and failover wizards answer "needs the operator role". An operator gets the volume and
// backup controls but not the admin ones, and cannot reach the admin pages by URL either.
// Requires Debian's chromium.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, newPage, screenshot, watchPage } from '../helpers/browser.js';
import { type ConsoleStack, signIn, startConsoleStack } from '../helpers/console-fixture.js';

/** What a button that changes something is called, on any page, for any role. */
const MUTATING =
  /^(add|delete|remove|register|check|create|revoke|edit|save|update|run|back up|verify|restore|fail|start|cancel|resume)\b/i;

/** Controls on the page (outside the top bar's sign-out) that are not marked safe. */
async function unsafeControls(page: Page): Promise<string[]> {
  return page
    .locator('main')
    .evaluate((main) =>
      [...main.querySelectorAll('button, input, select, textarea, form, dialog, [contenteditable]')]
        .filter((el) => !el.hasAttribute('data-safe'))
        .map((el) => el.outerHTML.slice(0, 160)),
    );
}

async function mutatingButtons(page: Page): Promise<string[]> {
  const buttons = page.getByRole('button', { name: MUTATING });
  const names: string[] = [];
  for (let i = 0; i < (await buttons.count()); i++) {
    const b = buttons.nth(i);
    names.push((await b.getAttribute('aria-label')) ?? (await b.innerText()));
  }
  return names;
}

async function navLinks(page: Page): Promise<string[]> {
  return page.getByRole('navigation', { name: 'Pages' }).getByRole('link').allInnerTexts();
}

describe('web console: roles', () => {
  let stack: ConsoleStack;
  let browser: Browser;
  let uniqueId: string;

  before(async () => {
    stack = await startConsoleStack();
    uniqueId = (await stack.admin.createVolume('n1', 'shared', 2 ** 30)).uniqueId;
    await stack.admin.addStore({ name: 'local', provider: 'directory', path: stack.node.dataDir });
    // A generation, a finished job and a backup setting, so their pages have rows to guard.
    const job = await stack.admin.backup({ volume: uniqueId, store: 'local', method: 'full' });
    assert.equal(
      (await stack.admin.waitJob(job.id, { intervalMs: 100, timeoutMs: 60_000 })).state,
      'succeeded',
    );
    await stack.admin.addBackupSetting({
      name: 'nightly',
      volume: uniqueId,
      store: 'local',
      method: 'incremental',
      schedule: { kind: 'daily', start: '2099-01-01T02:00:00Z', interval: 1, maxRuns: null },
    });
    await stack.addUser('vera', 'viewer', 'viewer-password-1');
    await stack.addUser('otto', 'operator', 'operator-password-1');
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await stack?.close();
  });

  it('shows a viewer every page with no mutating control at all', async () => {
    const page = await newPage(browser);
    const problems = watchPage(page);
    await signIn(page, stack.url, 'vera', 'viewer-password-1');
    assert.equal(await page.getByTestId('role').textContent(), 'viewer');
    assert.deepEqual(await navLinks(page), [
      'Volumes',
      'Backups',
      'Disaster recovery',
      'Jobs',
      'Object stores',
      'Sites and nodes',
      'Logs',
    ]);

    const pages: [string, string, () => Promise<unknown>][] = [
      ['Volumes', 'viewer-volumes', () => page.getByRole('table', { name: 'Volumes' }).waitFor()],
      ['Object stores', 'viewer-stores', () => page.getByRole('table', { name: 'Object stores' }).waitFor()],
      ['Sites and nodes', 'viewer-nodes', () => page.getByRole('table', { name: 'Nodes' }).waitFor()],
      ['Logs', 'viewer-logs', () => page.getByRole('table', { name: 'Event log' }).waitFor()],
      ['Backups', 'viewer-backups', () => page.getByRole('row', { name: /nightly/ }).waitFor()],
      [
        'Disaster recovery',
        'viewer-dr',
        () =>
          page
            .getByRole('table', { name: 'Protected volumes' })
            .getByRole('row', { name: /shared/ })
            .waitFor(),
      ],
      ['Jobs', 'viewer-jobs', () => page.getByRole('row', { name: /full backup of shared/ }).waitFor()],
    ];
    for (const [nav, shot, loaded] of pages) {
      await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: nav }).click();
      await loaded();
      assert.deepEqual(await mutatingButtons(page), [], `${nav}: no mutating button`);
      assert.deepEqual(await unsafeControls(page), [], `${nav}: only safe controls`);
      await screenshot(page, shot);
    }
    assert.equal(await page.getByRole('tab', { name: 'Audit' }).count(), 0, 'no audit log for a viewer');

    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Volumes' }).click();
    await page.getByRole('link', { name: 'shared' }).click();
    await page.getByTestId('unique-id').waitFor();
    assert.equal(await page.getByTestId('unique-id').innerText(), uniqueId);
    await page.getByTestId('generations').locator('li.generation').waitFor();
    await page.getByTestId('heatmap-caption').waitFor();
    assert.equal(await page.getByRole('form', { name: 'Back up now' }).count(), 0);
    assert.equal(await page.getByRole('link', { name: 'Restore…' }).count(), 0);
    assert.deepEqual(await mutatingButtons(page), [], 'details: no delete, verify or backup');
    assert.deepEqual(await unsafeControls(page), []);
    await screenshot(page, 'viewer-volume-details');

    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Jobs' }).click();
    await page.getByRole('link', { name: /full backup of shared/ }).click();
    await page.getByRole('table', { name: 'Step log' }).waitFor();
    assert.deepEqual(await mutatingButtons(page), [], 'job: no cancel or resume');
    assert.deepEqual(await unsafeControls(page), []);
    await screenshot(page, 'viewer-job');
    assert.deepEqual(problems, []);
  });

  it('keeps a viewer out of the admin pages by URL, without asking the API for them', async () => {
    const page = await newPage(browser);
    await signIn(page, stack.url, 'vera', 'viewer-password-1');
    const asked: string[] = [];
    page.on('request', (r) => asked.push(new URL(r.url()).pathname));
    await page.goto(`${stack.url}/users`);
    await page.getByTestId('forbidden').waitFor();
    assert.match(await page.getByTestId('forbidden').innerText(), /needs the admin role/);
    assert.deepEqual(await unsafeControls(page), []);
    assert.ok(!asked.some((p) => p.startsWith('/v1/users') || p.startsWith('/v1/tokens')), asked.join(' '));
    await screenshot(page, 'viewer-users-forbidden');
    for (const wizard of ['/restore', '/failover', '/failback']) {
      await page.goto(`${stack.url}${wizard}`);
      await page.getByTestId('forbidden').waitFor();
      assert.match(await page.getByTestId('forbidden').innerText(), /needs the operator role/, wizard);
      assert.deepEqual(await unsafeControls(page), [], wizard);
    }
    await page.goto(`${stack.url}/logs?log=audit`);
    await page.getByRole('table', { name: 'Event log' }).waitFor();
    assert.ok(!asked.includes('/v1/audit'), 'the audit log is not even asked for');
  });

  it('refuses the viewer’s own token on a mutating route with 403', async () => {
    const page = await newPage(browser);
    await signIn(page, stack.url, 'vera', 'viewer-password-1');
    // The session as the console keeps it (a string: this file is compiled without the DOM types).
    const token = await page.evaluate<string>("JSON.parse(sessionStorage.getItem('rebound.session')).token");
    assert.match(token, /^rbt_/);
    const call = (method: string, path: string, body?: unknown) =>
      fetch(new URL(path, stack.url), {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
      });
    const create = await call('POST', '/v1/volumes', { node: 'n1', name: 'sneaky', sizeBytes: 2 ** 20 });
    assert.equal(create.status, 403);
    assert.equal(((await create.json()) as { error: { code: string } }).error.code, 'FORBIDDEN');
    assert.equal((await call('DELETE', `/v1/volumes/${encodeURIComponent(uniqueId)}`)).status, 403);
    assert.equal((await call('DELETE', '/v1/stores/local')).status, 403);
    assert.equal((await call('GET', '/v1/volumes')).status, 200, 'reading is allowed');
    assert.ok(await stack.node.client.getVolume('shared'), 'nothing changed on the node');
    assert.equal((await stack.admin.listStores()).length, 1);
  });

  it('gives an operator the volume controls but not the admin ones', async () => {
    const page = await newPage(browser);
    const problems = watchPage(page);
    await signIn(page, stack.url, 'otto', 'operator-password-1');
    assert.equal(await page.getByTestId('role').textContent(), 'operator');
    assert.deepEqual(await navLinks(page), [
      'Volumes',
      'Backups',
      'Restore',
      'Disaster recovery',
      'Jobs',
      'Object stores',
      'Sites and nodes',
      'Logs',
    ]);
    await page.getByRole('table', { name: 'Volumes' }).waitFor();
    assert.deepEqual(await mutatingButtons(page), ['Add volume', 'Delete shared']);

    await page
      .getByRole('navigation', { name: 'Pages' })
      .getByRole('link', { name: 'Object stores' })
      .click();
    await page.getByRole('table', { name: 'Object stores' }).waitFor();
    assert.deepEqual(await mutatingButtons(page), [], 'stores are the admin’s');
    assert.deepEqual(await unsafeControls(page), []);

    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Backups' }).click();
    await page.getByRole('row', { name: /nightly/ }).waitFor();
    assert.deepEqual(await mutatingButtons(page), [
      'Add backup setting',
      'Run nightly now',
      'Delete nightly',
    ]);

    await page
      .getByRole('navigation', { name: 'Pages' })
      .getByRole('link', { name: 'Sites and nodes' })
      .click();
    await page.getByRole('table', { name: 'Nodes' }).waitFor();
    assert.deepEqual(await mutatingButtons(page), ['Check n1 now'], 'an operator checks a node, no more');
    await screenshot(page, 'operator-nodes');

    await page.goto(`${stack.url}/users`);
    await page.getByTestId('forbidden').waitFor();
    assert.match(await page.getByTestId('forbidden').innerText(), /needs the admin role.*otto \(operator\)/);
    assert.deepEqual(problems, []);
  });
});
