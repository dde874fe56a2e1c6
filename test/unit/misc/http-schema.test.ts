/**
 * Nullable and StringEnum (src/http/schema.ts): the same answers and the same request
 * checks as a union, through a real fastify route, with no anyOf left for the serializer.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Type } from '@sinclair/typebox';
import Fastify from 'fastify';
import { Nullable, StringEnum } from '../../../src/http/schema.js';

const Thing = Type.Object({
  state: StringEnum(['on', 'off']),
  note: Nullable(Type.String()),
  error: Nullable(Type.Object({ code: Type.String(), message: Type.String() })),
});

async function app() {
  const a = Fastify({ ajv: { customOptions: { coerceTypes: false } } }); // as the node API
  a.post('/echo', { schema: { body: Thing, response: { 200: Thing } } }, async (req) => req.body);
  await a.ready();
  return a;
}

describe('http schema forms', () => {
  it('answer null and non-null as a union would, and drop what the schema lacks', async () => {
    const a = await app();
    try {
      const one = { state: 'on', note: null, error: null };
      assert.deepEqual((await a.inject({ method: 'POST', url: '/echo', payload: one })).json(), one);
      const two = { state: 'off', note: 'x', error: { code: 'E', message: 'm', extra: 1 } };
      const r = await a.inject({ method: 'POST', url: '/echo', payload: two });
      assert.equal(r.statusCode, 200);
      assert.deepEqual(r.json(), { state: 'off', note: 'x', error: { code: 'E', message: 'm' } });
    } finally {
      await a.close();
    }
  });

  it('refuse requests a union would refuse', async () => {
    const a = await app();
    try {
      for (const bad of [
        { state: 'dim', note: null, error: null },
        { state: 'on', note: 3, error: null },
        { state: 'on', note: null, error: { code: 'E' } },
        { state: 'on', note: null, error: 'E' },
      ]) {
        const r = await a.inject({ method: 'POST', url: '/echo', payload: bad });
        assert.equal(r.statusCode, 400, JSON.stringify(bad));
      }
    } finally {
      await a.close();
    }
  });

  it('leave no anyOf for the serializer to check with ajv', () => {
    assert.ok(!JSON.stringify(Thing).includes('anyOf'));
    assert.throws(() => Nullable(Type.Union([Type.String(), Type.Number()])), TypeError);
  });
});
