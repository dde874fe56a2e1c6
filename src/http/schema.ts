/**
 * Schema forms for API responses that fastify's serializer (fast-json-stringify) writes
 * without ajv. It checks every branch of an `anyOf` (TypeBox's Union) with an ajv
 * validator, compiled the first time a response takes that branch: in a node started for
 * a failover, those compiles came at the failback's switch (15-27 ms of its main thread,
 * docs/profiling.md), and every response after ran the checks. A `type` list or an
 * `enum` says the same and is serialized by type alone. Requests validate either way.
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox';

/** One of `values`, as `{ type: 'string', enum }` rather than a union of literals. */
export function StringEnum<const T extends readonly string[]>(values: T) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values] });
}

/**
 * `schema` or null, as `{ type: [its type, 'null'], ... }` rather than a union with Null:
 * for a schema of one `type` (string, number, integer, object).
 */
export function Nullable<T extends TSchema>(schema: T) {
  const type = (schema as { type?: unknown }).type;
  if (typeof type !== 'string') throw new TypeError('Nullable takes a schema of one type');
  return Type.Unsafe<Static<T> | null>({ ...schema, type: [type, 'null'] });
}
