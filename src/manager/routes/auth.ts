/** /v1/auth: sign in with a password for a token; who am I. */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { signIn } from '../accounts.js';
import { type ManagerApiContext, principalOf } from '../api.js';
import { NewTokenView, SignInBody, WhoAmI } from '../api-schema.js';
import { newTokenView } from './views.js';

export async function authRoutes(scope: FastifyInstance, ctx: ManagerApiContext): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();

  app.post(
    '/v1/auth/sign-in',
    {
      config: { access: 'public' },
      schema: { tags: ['auth'], security: [], body: SignInBody, response: { 201: NewTokenView } },
    },
    async (req, reply) => {
      const issued = await signIn(ctx.db, ctx.clock, req.body.user, req.body.password, ctx.sessionTtlMs);
      req.principal = { user: issued.record.user, role: issued.role, tokenId: issued.record.id };
      reply.status(201);
      return newTokenView(issued);
    },
  );

  app.get(
    '/v1/auth/whoami',
    { config: { access: 'signed-in' }, schema: { tags: ['auth'], response: { 200: WhoAmI } } },
    async (req) => principalOf(req),
  );
}
