/**
 * What the console's end-to-end tests run against: a real storage node and a real
 * manager on loopback, the node registered in site dc1 as n1, the bootstrap admin given
 * a password so a person (a test) can sign in with it, and the console as built by
 * `npm run build` (dist/console/), which the manager serves at its URL.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { ManagerClient, type RunningManager, sites, startManager } from '../../src/manager/index.js';
import { CONSOLE_DIR } from '../../src/manager/routes/console.js';
import { type NodeFixture, startTestNode } from './node-fixture.js';

export const ADMIN_PASSWORD = 'admin-password-e2e';

export interface ConsoleStack {
  node: NodeFixture;
  manager: RunningManager;
  /** The manager's URL: the console is at its root. */
  url: string;
  admin: ManagerClient;
  adminToken: string;
  /** The manager's data directory (the local site provider builds secondaries under it). */
  dataDir: string;
  /** A user with a password and a role, made through the API. */
  addUser(name: string, role: 'admin' | 'operator' | 'viewer', password: string): Promise<void>;
  close(): Promise<void>;
}

export async function startConsoleStack(
  options: { poolSizeBytes?: number; jobPollMs?: number } = {},
): Promise<ConsoleStack> {
  assert.ok(
    existsSync(join(CONSOLE_DIR, 'index.html')),
    `the console is not built in ${CONSOLE_DIR}: run \`npm run build\` (npm test does)`,
  );
  const node = await startTestNode({ poolSizeBytes: options.poolSizeBytes });
  const dir = await mkdtemp(join(tmpdir(), 'rebound-console-'));
  let manager: RunningManager | undefined;
  try {
    manager = await startManager(
      dir,
      { apiPort: 0, secretKey: '3c'.repeat(32), pollIntervalMs: 3_600_000 },
      options.jobPollMs ? { jobPollMs: options.jobPollMs } : {},
    );
    assert.ok(manager.bootstrap);
    const adminToken = manager.bootstrap.token;
    const admin = new ManagerClient(manager.apiUrl, adminToken);
    await admin.updateUser('admin', { password: ADMIN_PASSWORD });
    await admin.addSite({ name: 'dc1', role: 'primary' });
    await admin.registerNode({ name: 'n1', site: 'dc1', url: node.node.apiUrl, token: node.node.token });
    const m = manager;
    return {
      node,
      manager: m,
      url: m.apiUrl,
      admin,
      adminToken,
      dataDir: dir,
      async addUser(name, role, password) {
        await admin.addUser({ name, role, password });
      },
      async close() {
        // A secondary a failover built with the local provider is a process of its own.
        await sites
          .openSiteProvider({ type: 'local' }, { dataDir: dir })
          .teardown({ name: 'dr' }, { purge: true })
          .catch(() => undefined);
        await m.close();
        await node.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await manager?.close();
    await node.close();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Sign in on the console's sign-in page and wait for the home page. */
export async function signIn(page: Page, url: string, user: string, password: string): Promise<void> {
  await page.goto(url);
  await page.getByLabel('User').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Volumes', level: 1 }).waitFor();
}
