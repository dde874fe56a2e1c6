/**
 * /v1/tokens: API tokens. Anyone signed in lists, creates and revokes their own; an
 * admin does so for any user. A token is shown once, in the answer that creates it.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ReboundError } from '../../errors.js';
import { issueToken } from '../accounts.js';
import { type ManagerApiContext, type Principal, principalOf } from '../api.js';
import { CreateTokenBody, NewTokenView, TokenParams, TokenQuery, TokenView } from '../api-schema.js';
import { tokenView } from './views.js';

export async function tokenRoutes(scope: FastifyInstance, ctx: ManagerApiContext): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  const { db } = ctx;
  const tags = ['tokens'];

  function mayManage(p: Principal, user: string): void {
    if (p.user !== user && p.role !== 'admin') {
      throw new ReboundError('FORBIDDEN', `only an admin manages the tokens of another user (${user})`, {
        detail: { required: 'admin', role: p.role },
      });
    }
  }

  app.get(
    '/v1/tokens',
    {
      config: { access: 'signed-in' },
      schema: { tags, querystring: TokenQuery, response: { 200: Type.Array(TokenView) } },
    },
    async (req) => {
      const p = principalOf(req);
      const user = req.query.user ?? (p.role === 'admin' ? undefined : p.user);
      if (user) mayManage(p, user);
      return (await db.listTokens(user)).map(tokenView);
    },
  );

  app.post(
    '/v1/tokens',
    {
      config: { access: 'signed-in' },
      schema: { tags, body: CreateTokenBody, response: { 201: NewTokenView } },
    },
    async (req, reply) => {
      const p = principalOf(req);
      const name = req.body.user ?? p.user;
      mayManage(p, name);
      const user = await db.getUser(name);
      if (!user) throw new ReboundError('NOT_FOUND', `no user named ${name}`, { detail: { field: 'user' } });
      const ttl = req.body.expiresInSeconds === undefined ? null : req.body.expiresInSeconds * 1000;
      const issued = await issueToken(db, ctx.clock, user, req.body.name, ttl);
      reply.status(201);
      return { ...tokenView(issued.record), token: issued.token, role: issued.role };
    },
  );

  app.delete(
    '/v1/tokens/:token',
    { config: { access: 'signed-in' }, schema: { tags, params: TokenParams } },
    async (req, reply) => {
      const t = await db.getToken(req.params.token);
      if (!t) throw new ReboundError('NOT_FOUND', `no token ${req.params.token}`);
      mayManage(principalOf(req), t.user);
      await db.removeToken(t.id);
      reply.status(204);
    },
  );
}
