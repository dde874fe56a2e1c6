/**
 * The console's pages: one file each under pages/, one line each here. `needs` is the
 * API route whose access decides who may open a page (access.ts): a user whose role does
 * not reach it gets no navigation entry, and typing the URL shows "needs the admin role"
 * instead of the page; nothing of it is fetched.
 */
import type { ComponentType } from 'preact';
import type { ApiRoute } from './api/access.js';
import { BackupsPage } from './pages/backups.js';
import { DrPage } from './pages/dr.js';
import { FailbackPage } from './pages/failback.js';
import { FailoverPage } from './pages/failover.js';
import { JobDetailsPage } from './pages/job-details.js';
import { JobsPage } from './pages/jobs.js';
import { LogsPage } from './pages/logs.js';
import { NodesPage } from './pages/nodes.js';
import { RestorePage } from './pages/restore.js';
import { StoresPage } from './pages/stores.js';
import { UsersPage } from './pages/users.js';
import { VolumeDetailsPage } from './pages/volume-details.js';
import { VolumesPage } from './pages/volumes.js';

export interface PageProps {
  /** The path's `:name` parts, decoded. */
  params: Record<string, string>;
}

export interface PageRoute {
  path: string;
  title: string;
  page: ComponentType<PageProps>;
  needs: ApiRoute;
  /** The navigation entry, when the page has one. */
  nav?: string;
}

export const ROUTES: PageRoute[] = [
  { path: '/volumes', title: 'Volumes', page: VolumesPage, needs: 'GET /v1/volumes', nav: 'Volumes' },
  { path: '/volumes/:volume', title: 'Volume', page: VolumeDetailsPage, needs: 'GET /v1/volumes/:volume' },
  { path: '/backups', title: 'Backups', page: BackupsPage, needs: 'GET /v1/backup-settings', nav: 'Backups' },
  { path: '/restore', title: 'Restore', page: RestorePage, needs: 'POST /v1/restores', nav: 'Restore' },
  { path: '/dr', title: 'Disaster recovery', page: DrPage, needs: 'GET /v1/dr', nav: 'Disaster recovery' },
  { path: '/failover', title: 'Fail over', page: FailoverPage, needs: 'POST /v1/failovers' },
  { path: '/failback', title: 'Fail back', page: FailbackPage, needs: 'POST /v1/failbacks' },
  { path: '/jobs', title: 'Jobs', page: JobsPage, needs: 'GET /v1/jobs', nav: 'Jobs' },
  { path: '/jobs/:job', title: 'Job', page: JobDetailsPage, needs: 'GET /v1/jobs/:job' },
  {
    path: '/stores',
    title: 'Object stores',
    page: StoresPage,
    needs: 'GET /v1/stores',
    nav: 'Object stores',
  },
  {
    path: '/nodes',
    title: 'Sites and nodes',
    page: NodesPage,
    needs: 'GET /v1/nodes',
    nav: 'Sites and nodes',
  },
  { path: '/logs', title: 'Logs', page: LogsPage, needs: 'GET /v1/events', nav: 'Logs' },
  {
    path: '/users',
    title: 'Users and tokens',
    page: UsersPage,
    needs: 'GET /v1/users',
    nav: 'Users and tokens',
  },
];

/** Where `/` and a fresh sign-in land. */
export const HOME = '/volumes';
