/**
 * http/: what every Rebound HTTP API shares, server side (error answers) and client side
 * (the JSON client under the typed clients). Below node/ and manager/, above nothing.
 */
export { installErrorHandlers } from './error-handler.js';
export { enc, JsonClient, type JsonClientOptions, query } from './json-client.js';
export { Nullable, StringEnum } from './schema.js';
