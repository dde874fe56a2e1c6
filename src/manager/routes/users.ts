/** /v1/users: people and their roles (admin only). The last admin cannot be removed or demoted. */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ReboundError } from '../../errors.js';
import { createUser } from '../accounts.js';
import type { ManagerApiContext } from '../api.js';
import { AddUserBody, UpdateUserBody, UserParams, UserView } from '../api-schema.js';
import { hashPassword } from '../auth.js';
import type { UserRecord } from '../db/types.js';
import { userView } from './views.js';

export async function userRoutes(scope: FastifyInstance, ctx: ManagerApiContext): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  const { db } = ctx;
  const tags = ['users'];
  const one = { tags, params: UserParams, response: { 200: UserView } };

  async function user(name: string): Promise<UserRecord> {
    const u = await db.getUser(name);
    if (!u) throw new ReboundError('NOT_FOUND', `no user named ${name}`);
    return u;
  }
  async function keepAnAdmin(name: string): Promise<void> {
    const admins = (await db.listUsers()).filter((u) => u.role === 'admin');
    if (admins.length === 1 && admins[0].name === name) {
      throw new ReboundError('BUSY', `${name} is the last admin; make another admin first`);
    }
  }

  app.get(
    '/v1/users',
    { config: { access: 'admin' }, schema: { tags, response: { 200: Type.Array(UserView) } } },
    async () => (await db.listUsers()).map(userView),
  );

  app.post(
    '/v1/users',
    { config: { access: 'admin' }, schema: { tags, body: AddUserBody, response: { 201: UserView } } },
    async (req, reply) => {
      const u = await createUser(db, ctx.clock, req.body);
      await ctx.events.record('info', 'user.added', u.name, `user ${u.name} (${u.role}) added`);
      reply.status(201);
      return userView(u);
    },
  );

  app.get('/v1/users/:user', { config: { access: 'admin' }, schema: one }, async (req) =>
    userView(await user(req.params.user)),
  );

  app.patch(
    '/v1/users/:user',
    { config: { access: 'admin' }, schema: { ...one, body: UpdateUserBody } },
    async (req) => {
      const u = await user(req.params.user);
      if (req.body.role && req.body.role !== 'admin' && u.role === 'admin') await keepAnAdmin(u.name);
      await db.updateUser(u.name, {
        ...(req.body.role ? { role: req.body.role } : {}),
        ...(req.body.password !== undefined
          ? { passwordHash: req.body.password === null ? null : await hashPassword(req.body.password) }
          : {}),
      });
      return userView(await user(u.name));
    },
  );

  app.delete(
    '/v1/users/:user',
    { config: { access: 'admin' }, schema: { tags, params: UserParams } },
    async (req, reply) => {
      const u = await user(req.params.user);
      if (u.role === 'admin') await keepAnAdmin(u.name);
      await db.removeUser(u.name);
      await ctx.events.record('info', 'user.removed', u.name, `user ${u.name} removed`);
      reply.status(204);
    },
  );
}
