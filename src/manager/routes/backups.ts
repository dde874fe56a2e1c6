/**
 * Backups through the manager (SPEC Fig. 10 to 17):
 *
 *   GET|POST /v1/backup-settings, GET|PATCH|DELETE /v1/backup-settings/:setting
 *   POST /v1/backup-settings/:setting/run   run a setting now (a job)
 *   POST /v1/backups                        one backup now (a job)
 *   GET  /v1/stores/:store/generations      the generations, read through a node
 *   POST /v1/restores                       restore a generation onto a node (a job)
 *   POST /v1/stores/:store/verify           re-read and check (a job)
 *
 * Long actions answer 202 with the job; `GET /v1/jobs/:job` follows it.
 */
import { randomBytes } from 'node:crypto';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ReboundError } from '../../errors.js';
import { type ManagerApiContext, principalOf } from '../api.js';
import {
  AddBackupSettingBody,
  BackupSettingParams,
  BackupSettingView,
  GenerationsQuery,
  GenerationView,
  JobView,
  RestoreBody,
  RunBackupBody,
  StoreParams,
  UpdateBackupSettingBody,
  VerifyBody,
} from '../api-schema.js';
import { isoTime } from '../clock.js';
import type { BackupSettingRecord } from '../db/types.js';
import { backupParams, type RestoreParams, type VerifyParams } from '../jobs/index.js';
import { firstRun } from '../schedule.js';
import { jobView } from './views.js';

export async function backupRoutes(scope: FastifyInstance, ctx: ManagerApiContext): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  const { db, registry, runner, scheduler, clock } = ctx;
  const tags = ['backups'];

  const settingView = async (s: BackupSettingRecord) => {
    const v = await db.getVolume(s.volume);
    return { ...s, volumeName: v?.name ?? null, node: v?.node ?? null };
  };
  const setting = async (ref: string) => {
    const s = await db.getBackupSetting(ref);
    if (!s)
      throw new ReboundError('NOT_FOUND', `no backup setting ${ref} (GET /v1/backup-settings lists them)`);
    return s;
  };

  app.get(
    '/v1/backup-settings',
    { config: { access: 'viewer' }, schema: { tags, response: { 200: Type.Array(BackupSettingView) } } },
    async () => Promise.all((await db.listBackupSettings()).map(settingView)),
  );

  app.post(
    '/v1/backup-settings',
    {
      config: { access: 'operator' },
      schema: { tags, body: AddBackupSettingBody, response: { 201: BackupSettingView } },
    },
    async (req, reply) => {
      const b = req.body;
      const volume = await registry.volume(b.volume);
      await registry.store(b.store);
      const now = clock.now();
      const record: BackupSettingRecord = {
        id: `bs-${randomBytes(4).toString('hex')}`,
        name: b.name,
        volume: volume.uniqueId,
        store: b.store,
        method: b.method,
        schedule: b.schedule,
        retention: b.retention ?? null,
        enabled: b.enabled ?? true,
        runs: 0,
        nextRunAt: new Date(firstRun(b.schedule, now)).toISOString(),
        lastRunAt: null,
        lastJob: null,
        createdAt: isoTime(clock),
      };
      await db.addBackupSetting(record);
      await ctx.events.record(
        'info',
        'backup.setting.added',
        b.name,
        `backup setting ${b.name} for ${volume.name} added`,
        {
          schedule: b.schedule,
          method: b.method,
        },
      );
      await scheduler.poke();
      reply.status(201);
      return settingView((await db.getBackupSetting(record.id))!);
    },
  );

  app.get(
    '/v1/backup-settings/:setting',
    {
      config: { access: 'viewer' },
      schema: { tags, params: BackupSettingParams, response: { 200: BackupSettingView } },
    },
    async (req) => settingView(await setting(req.params.setting)),
  );

  app.patch(
    '/v1/backup-settings/:setting',
    {
      config: { access: 'operator' },
      schema: {
        tags,
        params: BackupSettingParams,
        body: UpdateBackupSettingBody,
        response: { 200: BackupSettingView },
      },
    },
    async (req) => {
      const s = await setting(req.params.setting);
      const b = req.body;
      if (b.store) await registry.store(b.store);
      await db.updateBackupSetting(s.id, {
        ...(b.store !== undefined ? { store: b.store } : {}),
        ...(b.method !== undefined ? { method: b.method } : {}),
        ...(b.retention !== undefined ? { retention: b.retention } : {}),
        ...(b.enabled !== undefined ? { enabled: b.enabled } : {}),
        // A new timing starts afresh: its first run, its own count.
        ...(b.schedule !== undefined
          ? {
              schedule: b.schedule,
              runs: 0,
              nextRunAt: new Date(firstRun(b.schedule, clock.now())).toISOString(),
            }
          : {}),
      });
      await scheduler.poke();
      return settingView(await setting(s.id));
    },
  );

  app.delete(
    '/v1/backup-settings/:setting',
    { config: { access: 'operator' }, schema: { tags, params: BackupSettingParams } },
    async (req, reply) => {
      const s = await setting(req.params.setting);
      await db.removeBackupSetting(s.id);
      await ctx.events.record('info', 'backup.setting.removed', s.name, `backup setting ${s.name} removed`);
      reply.status(204);
    },
  );

  app.post(
    '/v1/backup-settings/:setting/run',
    {
      config: { access: 'operator' },
      schema: { tags, params: BackupSettingParams, response: { 202: JobView } },
    },
    async (req, reply) => {
      const s = await setting(req.params.setting);
      const v = await registry.volume(s.volume);
      const job = await runner.submit(
        'backup',
        { ...backupParams(v, s.store, s.method, s.retention) },
        {
          createdBy: principalOf(req).user,
          setting: s.id,
        },
      );
      await db.updateBackupSetting(s.id, { lastJob: job!.id, lastRunAt: isoTime(clock) });
      reply.status(202);
      return jobView(job!);
    },
  );

  app.post(
    '/v1/backups',
    { config: { access: 'operator' }, schema: { tags, body: RunBackupBody, response: { 202: JobView } } },
    async (req, reply) => {
      const v = await registry.volume(req.body.volume);
      await registry.store(req.body.store);
      const job = await runner.submit(
        'backup',
        { ...backupParams(v, req.body.store, req.body.method, null) },
        {
          createdBy: principalOf(req).user,
        },
      );
      reply.status(202);
      return jobView(job!);
    },
  );

  app.get(
    '/v1/stores/:store/generations',
    {
      config: { access: 'viewer' },
      schema: {
        tags,
        params: StoreParams,
        querystring: GenerationsQuery,
        response: { 200: Type.Array(GenerationView) },
      },
    },
    async (req) => {
      const { store } = req.params;
      await registry.store(store);
      let uniqueId = req.query.uniqueId;
      if (req.query.volume) {
        const v = await registry.volume(req.query.volume);
        uniqueId = v.inheritedUniqueId ?? v.uniqueId;
      }
      const node = await registry.pickNode(req.query.node);
      await registry.ensureStore(node, store);
      return registry.client(node).listGenerations(store, uniqueId ? { uniqueId } : {});
    },
  );

  app.post(
    '/v1/restores',
    { config: { access: 'operator' }, schema: { tags, body: RestoreBody, response: { 202: JobView } } },
    async (req, reply) => {
      await registry.node(req.body.node);
      await registry.store(req.body.store);
      const params: RestoreParams = { ...req.body };
      const job = await runner.submit('restore', { ...params }, { createdBy: principalOf(req).user });
      reply.status(202);
      return jobView(job!);
    },
  );

  app.post(
    '/v1/stores/:store/verify',
    {
      config: { access: 'operator' },
      schema: { tags, params: StoreParams, body: VerifyBody, response: { 202: JobView } },
    },
    async (req, reply) => {
      await registry.store(req.params.store);
      const node = await registry.pickNode(req.body.node);
      const params: VerifyParams = {
        node: node.name,
        store: req.params.store,
        ...(req.body.generation ? { generation: req.body.generation } : {}),
        ...(req.body.uniqueId ? { uniqueId: req.body.uniqueId } : {}),
      };
      const job = await runner.submit('verify', { ...params }, { createdBy: principalOf(req).user });
      reply.status(202);
      return jobView(job!);
    },
  );
}
