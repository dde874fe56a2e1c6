/**
 * The console's pages: one file each under pages/, one line each here. `needs` is the
 * API route whose access decides who may open a page (access.ts): a user whose role does
 * not reach it gets no navigation entry, and typing the URL shows "needs the admin role"
 * instead of the page; nothing of it is fetched.
 *
 * Pages waiting for the manager API (add them here, with their client methods in
 * api/client.ts and their routes in api/access.ts, when it lands):
 *   /backups            backup settings, SPEC Fig. 10: volume, store, timing, method
 *                       (GET/POST/DELETE /v1/backup-settings)
 *   /volumes/:v/generations  the generations timeline, parents and methods
 *                       (GET /v1/volumes/:v/generations, or /v1/stores/:s/generations)
 *   /restore            SPEC Fig. 16: store, source volume, version, destination (POST /v1/restores)
 *   /jobs, /jobs/:id    jobs with live progress (GET /v1/jobs, and a server-sent event
 *                       stream per job: read it with fetch() and a stream reader, since
 *                       EventSource cannot send the bearer token)
 *   /failover, /failback  the wizards, SPEC Fig. 15 and 21-33 (POST /v1/failovers ...)
 *   /dr                 the DR dashboard: sites, replication lag, last good generation
 *   /volumes/:v/heatmap the update-bitmap heat map (the node's bitmap runs, through the manager)
 */
import type { ComponentType } from 'preact';
import type { ApiRoute } from './api/access.js';
import { LogsPage } from './pages/logs.js';
import { NodesPage } from './pages/nodes.js';
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
