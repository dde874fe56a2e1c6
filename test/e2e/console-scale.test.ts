// The volume list with 1,000 volumes on a real node (thin, so they cost only metadata),
// in headless Chromium: how long the manager takes to answer the list, how long the
// console takes from a click on "Volumes" to all 1,000 rows drawn, and how long a
// filter and a sort take; then the DR dashboard and the failover wizard's volume list
// (checkboxes) on the same 1,000. Bounds are generous (a shared 2-core machine); the timings are
// printed so a regression shows long before it fails. Requires Debian's chromium.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, newPage, screenshot, watchPage } from '../helpers/browser.js';
import { ADMIN_PASSWORD, type ConsoleStack, startConsoleStack } from '../helpers/console-fixture.js';

const COUNT = 1000;
const name = (i: number) => `vol-${String(i).padStart(4, '0')}`;

/** In the page: run `action`, then wait frame by frame until `done` (an expression) holds, and one frame more; ms. */
const timeUntil = (action: string, done: string) => `(async () => {
  const table = () => document.querySelector('table[aria-label="Volumes"]');
  const rows = () => table()?.querySelectorAll('tbody tr:not(.spacer)') ?? [];
  const t0 = performance.now();
  ${action};
  while (!(${done})) {
    if (performance.now() - t0 > 30000) throw new Error('not done: ${done.replace(/'/g, '')}');
    await new Promise((r) => requestAnimationFrame(r));
  }
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0))); // painted
  return performance.now() - t0;
})()`;

/** The whole list is there: 1,000 rows counted (windowed: aria-rowcount), the first ones drawn. */
const ALL_LISTED = `table()?.getAttribute('aria-rowcount') === '${COUNT + 1}' && rows().length > 0`;

describe('web console: 1,000 volumes', () => {
  let stack: ConsoleStack;
  let browser: Browser;
  let page: Page;
  const timings: Record<string, number> = {};

  before(async () => {
    stack = await startConsoleStack({ poolSizeBytes: 64 * 2 ** 30 });
    const t0 = performance.now();
    let next = 1;
    // Eight at a time: the node's API and its metadata log, not the test, set the pace.
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next <= COUNT) {
          const i = next++;
          await stack.node.client.createVolume(name(i), ((i % 100) + 1) * 2 ** 30);
        }
      }),
    );
    timings.seedOnNodeMs = performance.now() - t0;
    const t1 = performance.now();
    const n = await stack.admin.checkNode('n1'); // the manager syncs its registry from the node
    timings.managerSyncMs = performance.now() - t1;
    assert.equal(n.volumes, COUNT);
    browser = await launchChromium();
    page = await newPage(browser);
  });
  after(async () => {
    if (Object.keys(timings).length)
      console.log(`1,000-volume timings (ms): ${JSON.stringify(roundAll(timings))}`);
    await browser?.close();
    await stack?.close();
  });

  it('answers the list from the manager quickly', async () => {
    const runs: number[] = [];
    let bytes = 0;
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const res = await fetch(new URL('/v1/volumes', stack.url), {
        headers: { authorization: `Bearer ${stack.adminToken}` },
      });
      const body = await res.text();
      runs.push(performance.now() - t0);
      bytes = body.length;
      assert.equal((JSON.parse(body) as unknown[]).length, COUNT);
    }
    timings.apiListMedianMs = median(runs);
    timings.apiListBytes = bytes;
    assert.ok(timings.apiListMedianMs < 2000, `GET /v1/volumes took ${timings.apiListMedianMs} ms`);
  });

  it('draws all 1,000 rows soon after a click, and filters and sorts them fast', async () => {
    const problems = watchPage(page);
    const tLoad = performance.now();
    await page.goto(`${stack.url}/logs`);
    await page.getByLabel('User').fill('admin');
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('table', { name: 'Event log' }).waitFor();
    timings.signInToFirstPageMs = performance.now() - tLoad;

    // Logs -> Volumes: the fetch of 1,000 volumes and the first screen of them, as a person sees it.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    const threadMs = async () =>
      1000 *
      ((await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'ThreadTime')?.value ?? 0);
    const clicks: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < 3; i++) {
      const c0 = await threadMs();
      clicks.push(
        await page.evaluate<number>(
          timeUntil(`document.querySelector('nav a[href="/volumes"]').click()`, ALL_LISTED),
        ),
      );
      cpu.push((await threadMs()) - c0);
      await page.getByRole('navigation').getByRole('link', { name: 'Logs' }).click();
      await page.getByRole('table', { name: 'Event log' }).waitFor();
    }
    timings.clickToListMedianMs = median(clicks);
    timings.clickToListWorstMs = Math.max(...clicks);
    timings.clickToListRendererCpuMedianMs = median(cpu);
    await page.getByRole('navigation').getByRole('link', { name: 'Volumes' }).click();
    await page.getByTestId('row-count').waitFor();
    assert.equal(await page.getByTestId('row-count').innerText(), '1,000 volumes');
    const drawn = await page.locator('table[aria-label="Volumes"] tbody tr:not(.spacer)').count();
    assert.ok(drawn >= 20 && drawn < 120, `windowed: ${drawn} rows in the DOM for 1,000`);
    timings.rowsInDom = drawn;
    await screenshot(page, 'scale-1000-volumes', { fullPage: false });

    // To the end of the list and back: the last volume is drawn when it is scrolled to.
    timings.scrollToEndMs = await page.evaluate<number>(
      timeUntil(
        'window.scrollTo(0, document.documentElement.scrollHeight)',
        `[...rows()].some((r) => r.textContent.startsWith('${name(COUNT)}'))`,
      ),
    );
    await page.getByRole('link', { name: name(COUNT), exact: true }).waitFor();
    // The spacers keep the list exactly as tall as its rows: the last row ends where the table does.
    const gapPx = await page.evaluate<number>(`(() => {
      const body = document.querySelector('table[aria-label="Volumes"] tbody');
      const rows = body.querySelectorAll('tr:not(.spacer)');
      return Math.abs(body.getBoundingClientRect().bottom - rows[rows.length - 1].getBoundingClientRect().bottom);
    })()`);
    assert.ok(gapPx < 2, `the last row is ${gapPx} px from the end of the list`);
    await screenshot(page, 'scale-end', { fullPage: false });
    await page.mouse.wheel(0, -4000);
    await page.getByRole('link', { name: name(COUNT - 120), exact: true }).waitFor();
    await screenshot(page, 'scale-scrolled', { fullPage: false });
    await page.evaluate('window.scrollTo(0, 0)');

    const filter = page.getByRole('searchbox', { name: 'Filter volumes' });
    const typeFilter = (text: string) =>
      `const f = document.querySelector('input.filter'); f.value = '${text}'; f.dispatchEvent(new Event('input', { bubbles: true }))`;
    timings.filterToOneRowMs = await page.evaluate<number>(
      timeUntil(typeFilter('vol-0777'), 'rows().length === 1'),
    );
    assert.equal(await page.getByTestId('row-count').innerText(), '1 volume of 1,000');
    await screenshot(page, 'scale-filtered', { fullPage: false });
    timings.clearFilterMs = await page.evaluate<number>(timeUntil(typeFilter(''), ALL_LISTED));
    assert.equal(await filter.inputValue(), '');

    // Sort by capacity, largest first (two clicks on the header).
    timings.sortMs = await page.evaluate<number>(
      timeUntil(
        `const b = [...document.querySelectorAll('th button.sort')].find((b) => b.textContent.startsWith('Capacity')); b.click(); b.click()`,
        `rows()[0]?.children[4]?.textContent === '100 GiB'`,
      ),
    );
    const firstRow = await page
      .getByRole('table', { name: 'Volumes' })
      .locator('tbody tr:not(.spacer)')
      .first()
      .innerText();
    assert.match(firstRow, /100 GiB/, 'largest first');

    assert.ok(timings.clickToListMedianMs < 2000, `click to the list: ${timings.clickToListMedianMs} ms`);
    assert.ok(timings.scrollToEndMs < 1000, `scroll to the end: ${timings.scrollToEndMs} ms`);
    assert.ok(timings.filterToOneRowMs < 1000, `filter: ${timings.filterToOneRowMs} ms`);
    assert.ok(timings.sortMs < 1000, `sort: ${timings.sortMs} ms`);
    assert.deepEqual(problems, []);
  });

  it('draws the DR dashboard and the failover wizard’s volume list for 1,000 volumes fast', async () => {
    const problems = watchPage(page);
    const count = page.getByTestId('row-count').filter({ hasText: /^1,000 volumes$/ });
    let t0 = performance.now();
    await page.getByRole('navigation').getByRole('link', { name: 'Disaster recovery' }).click();
    await count.waitFor();
    timings.clickToDrMs = performance.now() - t0;
    await screenshot(page, 'scale-dr', { fullPage: false });

    t0 = performance.now();
    await page.getByRole('button', { name: 'Fail over…' }).click();
    await count.waitFor();
    timings.clickToFailoverWizardMs = performance.now() - t0;
    t0 = performance.now();
    await page.getByLabel(`Fail over ${name(1)}`, { exact: true }).check();
    await page.getByText('Volumes (1 checked)').waitFor();
    timings.checkOneOfThousandMs = performance.now() - t0;
    await screenshot(page, 'scale-failover-wizard', { fullPage: false });

    assert.ok(timings.clickToDrMs < 3000, `click to the DR dashboard: ${timings.clickToDrMs} ms`);
    assert.ok(
      timings.clickToFailoverWizardMs < 3000,
      `click to the wizard: ${timings.clickToFailoverWizardMs} ms`,
    );
    assert.ok(timings.checkOneOfThousandMs < 1000, `check a volume: ${timings.checkOneOfThousandMs} ms`);
    assert.deepEqual(problems, []);
  });
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function roundAll(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Math.round(v)]));
}
