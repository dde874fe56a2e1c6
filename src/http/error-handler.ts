/**
 * How every Rebound API (node, manager) answers errors: `{"error": {code, message,
 * detail}}` with the code's HTTP status (src/errors.ts); a schema validation failure is
 * 400 INVALID_ARGUMENT naming the field; an unknown route 404 NOT_FOUND. A 500 is a bug
 * and logs its stack; a 5xx from a peer being down is an operational state, one line.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import { ReboundError, toReboundError } from '../errors.js';

export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err.validation) {
      // Name the field: "sizeBytes: body/sizeBytes must be integer", "node: body must have required property 'node'".
      const v = err.validation[0];
      const params = (v?.params ?? {}) as { missingProperty?: string; additionalProperty?: string };
      const path = (v?.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
      const field =
        [path, params.missingProperty ?? params.additionalProperty].filter(Boolean).join('.') || undefined;
      const where = `${err.validationContext ?? 'request'}${v?.instancePath ?? ''}`;
      const message = field
        ? `${field}: ${where} ${v?.message ?? err.message}`
        : `${where} ${v?.message ?? err.message}`;
      return reply
        .status(400)
        .send({ error: { code: 'INVALID_ARGUMENT', message, detail: field ? { field } : {} } });
    }
    if (err.statusCode && err.statusCode < 500 && !(err instanceof ReboundError)) {
      return reply.status(err.statusCode).send({ error: { code: 'INVALID_ARGUMENT', message: err.message } });
    }
    const e = toReboundError(err);
    if (e.httpStatus === 500) request.log.error({ err }, 'request failed');
    else if (e.httpStatus > 500) request.log.warn({ code: e.code }, e.message);
    return reply.status(e.httpStatus).send({ error: { code: e.code, message: e.message, detail: e.detail } });
  });

  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send({
      error: { code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` },
    });
  });
}
