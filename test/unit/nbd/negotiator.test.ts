/** Handshake edge cases, on the socket-free Negotiator. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReboundError } from '../../../src/errors.js';
import {
  NBD_FLAG_C_FIXED_NEWSTYLE,
  NBD_FLAG_C_NO_ZEROES,
  NBD_FLAG_READ_ONLY,
  NBD_FLAG_SEND_DF,
  NBD_INFO_BLOCK_SIZE,
  NBD_INFO_DESCRIPTION,
  NBD_INFO_EXPORT,
  NBD_INFO_NAME,
  NBD_OPT_ABORT,
  NBD_OPT_EXPORT_NAME,
  NBD_OPT_EXTENDED_HEADERS,
  NBD_OPT_GO,
  NBD_OPT_INFO,
  NBD_OPT_LIST,
  NBD_OPT_LIST_META_CONTEXT,
  NBD_OPT_SET_META_CONTEXT,
  NBD_OPT_STARTTLS,
  NBD_OPT_STRUCTURED_REPLY,
  NBD_REP_ACK,
  NBD_REP_ERR_INVALID,
  NBD_REP_ERR_POLICY,
  NBD_REP_ERR_TLS_REQD,
  NBD_REP_ERR_UNKNOWN,
  NBD_REP_ERR_UNSUP,
  NBD_REP_INFO,
  NBD_REP_META_CONTEXT,
  NBD_REP_SERVER,
} from '../../../src/nbd/constants.js';
import type { ExportProvider } from '../../../src/nbd/export.js';
import { FrameReader } from '../../../src/nbd/frame-reader.js';
import {
  decodeOptionReply,
  encodeExportRequest,
  encodeMetaContextRequest,
  type OptionReply,
} from '../../../src/nbd/handshake-codec.js';
import { Negotiator, type OptionResult, type TlsMode } from '../../../src/nbd/negotiator.js';
import { testExports } from '../../helpers/nbd-fixture.js';

function replies(result: OptionResult): OptionReply[] {
  const r = new FrameReader();
  for (const b of result.replies) r.push(b);
  const out: OptionReply[] = [];
  for (let rep = decodeOptionReply(r); rep; rep = decodeOptionReply(r)) out.push(rep);
  assert.equal(r.length, 0);
  return out;
}

function types(result: OptionResult): number[] {
  return replies(result).map((r) => r.type);
}

function negotiator(mode: TlsMode = 'off', provider: ExportProvider = testExports().provider): Negotiator {
  const n = new Negotiator(provider, mode);
  n.setClientFlags(NBD_FLAG_C_FIXED_NEWSTYLE);
  return n;
}

const none = Buffer.alloc(0);
const go = (name: string, infos: number[] = []) => ({
  option: NBD_OPT_GO,
  data: encodeExportRequest({ name, infos }),
});
const setMeta = (exportName: string, queries: string[]) => ({
  option: NBD_OPT_SET_META_CONTEXT,
  data: encodeMetaContextRequest({ exportName, queries }),
});
const listMeta = (exportName: string, queries: string[]) => ({
  option: NBD_OPT_LIST_META_CONTEXT,
  data: encodeMetaContextRequest({ exportName, queries }),
});
const names = (result: OptionResult) =>
  replies(result)
    .filter((r) => r.type === NBD_REP_META_CONTEXT)
    .map((r) => r.data.toString('utf8', 4));

describe('Negotiator', () => {
  it('answers unknown options and EXTENDED_HEADERS with ERR_UNSUP and carries on', () => {
    const n = negotiator();
    for (const option of [42, NBD_OPT_EXTENDED_HEADERS, 4]) {
      const res = n.handle({ option, data: Buffer.from('junk') });
      assert.deepEqual(types(res), [NBD_REP_ERR_UNSUP]);
      assert.equal(res.outcome.next, 'continue');
    }
  });

  it('LIST sends one SERVER reply per export then ACK; LIST with data is invalid', () => {
    const n = negotiator();
    const res = n.handle({ option: NBD_OPT_LIST, data: none });
    assert.deepEqual(types(res), [NBD_REP_SERVER, NBD_REP_SERVER, NBD_REP_ACK]);
    const first = replies(res)[0].data;
    assert.equal(first.toString('utf8', 4, 4 + first.readUInt32BE(0)), 'vol0');
    assert.deepEqual(types(n.handle({ option: NBD_OPT_LIST, data: Buffer.from('x') })), [
      NBD_REP_ERR_INVALID,
    ]);
  });

  it('GO replies INFO_EXPORT, NAME, DESCRIPTION, BLOCK_SIZE, ACK and enters transmission', () => {
    const n = negotiator();
    const res = n.handle(go('', [NBD_INFO_NAME, NBD_INFO_DESCRIPTION, NBD_INFO_BLOCK_SIZE]));
    const reps = replies(res);
    assert.deepEqual(
      reps.map((r) => [r.type, r.type === NBD_REP_INFO ? r.data.readUInt16BE(0) : -1]),
      [
        [NBD_REP_INFO, NBD_INFO_EXPORT],
        [NBD_REP_INFO, NBD_INFO_NAME],
        [NBD_REP_INFO, NBD_INFO_DESCRIPTION],
        [NBD_REP_INFO, NBD_INFO_BLOCK_SIZE],
        [NBD_REP_ACK, -1],
      ],
    );
    assert.equal(reps[0].data.length, 12);
    assert.equal(reps[3].data.length, 14);
    assert.deepEqual(
      [reps[3].data.readUInt32BE(2), reps[3].data.readUInt32BE(6), reps[3].data.readUInt32BE(10)],
      [1, 4096, 32 * 1024 * 1024],
    );
    assert.equal(reps[1].data.toString('utf8', 2), 'vol0', 'the empty name is the first export listed');
    assert.equal(res.outcome.next, 'transmission');
  });

  it('GO with zero info requests (the kernel client) still works; flags show READ_ONLY', () => {
    const res = negotiator().handle(go('ro'));
    assert.deepEqual(types(res), [NBD_REP_INFO, NBD_REP_INFO, NBD_REP_ACK]);
    assert.ok(replies(res)[0].data.readUInt16BE(10) & NBD_FLAG_READ_ONLY);
  });

  it('INFO does not end negotiation and releases the export at once', () => {
    const ex = testExports();
    const n = negotiator('off', ex.provider);
    const res = n.handle({ option: NBD_OPT_INFO, data: encodeExportRequest({ name: 'vol0', infos: [] }) });
    assert.equal(res.outcome.next, 'continue');
    assert.equal(ex.released.get('vol0'), 1);
  });

  it('unknown export: ERR_UNKNOWN for GO, hard disconnect for EXPORT_NAME', () => {
    const n = negotiator();
    assert.deepEqual(types(n.handle(go('nope'))), [NBD_REP_ERR_UNKNOWN]);
    const res = n.handle({ option: NBD_OPT_EXPORT_NAME, data: Buffer.from('nope') });
    assert.equal(res.outcome.next, 'disconnect');
    assert.equal(res.replies.length, 0);
  });

  it('a provider refusing with a ReboundError gives ERR_POLICY with its message', () => {
    const provider: ExportProvider = {
      list: () => [{ name: 'fenced' }],
      open: () => {
        throw new ReboundError('VOLUME_FENCED', 'volume fenced for failover');
      },
    };
    const res = negotiator('off', provider).handle(go('fenced'));
    const [rep] = replies(res);
    assert.equal(rep.type, NBD_REP_ERR_POLICY);
    assert.equal(rep.data.toString(), 'volume fenced for failover');
  });

  it('malformed GO data is ERR_INVALID', () => {
    assert.deepEqual(types(negotiator().handle({ option: NBD_OPT_GO, data: Buffer.from([0, 0]) })), [
      NBD_REP_ERR_INVALID,
    ]);
  });

  it('EXPORT_NAME replies with 134 bytes, or 10 when the client set NO_ZEROES', () => {
    const n = negotiator();
    assert.equal(n.handle({ option: NBD_OPT_EXPORT_NAME, data: Buffer.from('vol0') }).replies[0].length, 134);
    const nz = new Negotiator(testExports().provider, 'off');
    nz.setClientFlags(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
    assert.equal(nz.handle({ option: NBD_OPT_EXPORT_NAME, data: Buffer.from('vol0') }).replies[0].length, 10);
  });

  it('STRUCTURED_REPLY once; twice or with data is invalid; DF appears only with it', () => {
    const n = negotiator();
    const plain = replies(n.handle(go('vol0')))[0].data.readUInt16BE(10);
    assert.equal(plain & NBD_FLAG_SEND_DF, 0);
    assert.deepEqual(types(n.handle({ option: NBD_OPT_STRUCTURED_REPLY, data: Buffer.from('x') })), [
      NBD_REP_ERR_INVALID,
    ]);
    assert.deepEqual(types(n.handle({ option: NBD_OPT_STRUCTURED_REPLY, data: none })), [NBD_REP_ACK]);
    assert.deepEqual(types(n.handle({ option: NBD_OPT_STRUCTURED_REPLY, data: none })), [
      NBD_REP_ERR_INVALID,
    ]);
    const res = n.handle(go('vol0'));
    assert.ok(replies(res)[0].data.readUInt16BE(10) & NBD_FLAG_SEND_DF);
  });

  it('LIST_META_CONTEXT: no query lists all; base:, qemu: and qemu:dirty-bitmap: are wildcards', () => {
    const n = negotiator();
    n.handle({ option: NBD_OPT_STRUCTURED_REPLY, data: none });
    assert.deepEqual(names(n.handle(listMeta('vol0', []))), ['base:allocation', 'qemu:dirty-bitmap:b0']);
    assert.deepEqual(names(n.handle(listMeta('vol0', ['base:']))), ['base:allocation']);
    assert.deepEqual(names(n.handle(listMeta('vol0', ['qemu:']))), ['qemu:dirty-bitmap:b0']);
    assert.deepEqual(names(n.handle(listMeta('vol0', ['qemu:dirty-bitmap:']))), ['qemu:dirty-bitmap:b0']);
    assert.deepEqual(names(n.handle(listMeta('vol0', ['x-other:thing', 'base:nope']))), []);
    assert.deepEqual(types(n.handle(listMeta('nope', []))), [NBD_REP_ERR_UNKNOWN]);
  });

  it('SET_META_CONTEXT: exact names only, needs structured replies, must match the GO export', () => {
    const n = negotiator();
    assert.deepEqual(types(n.handle(setMeta('vol0', ['base:allocation']))), [NBD_REP_ERR_INVALID]);
    n.handle({ option: NBD_OPT_STRUCTURED_REPLY, data: none });
    assert.deepEqual(names(n.handle(setMeta('vol0', ['base:', 'qemu:dirty-bitmap:']))), []);
    const both = n.handle(setMeta('vol0', ['qemu:dirty-bitmap:b0', 'base:allocation', 'unknown:x']));
    assert.deepEqual(names(both), ['base:allocation', 'qemu:dirty-bitmap:b0']);
    const ids = replies(both)
      .filter((r) => r.type === NBD_REP_META_CONTEXT)
      .map((r) => r.data.readUInt32BE(0));
    assert.equal(new Set(ids).size, 2);
    // GO on another export: the selection does not apply.
    const other = n.handle(go('ro'));
    assert.equal(other.outcome.next === 'transmission' && other.outcome.negotiated.contexts.length, 0);
  });

  it('SET_META_CONTEXT then GO on the same export (by default name) carries the contexts', () => {
    const n = negotiator();
    n.handle({ option: NBD_OPT_STRUCTURED_REPLY, data: none });
    n.handle(setMeta('', ['base:allocation']));
    const res = n.handle(go('vol0'));
    assert.ok(res.outcome.next === 'transmission');
    assert.deepEqual(
      res.outcome.negotiated.contexts.map((c) => c.name),
      ['base:allocation'],
    );
  });

  it('a failed SET_META_CONTEXT still clears the previous selection', () => {
    const n = negotiator();
    n.handle({ option: NBD_OPT_STRUCTURED_REPLY, data: none });
    n.handle(setMeta('vol0', ['base:allocation']));
    assert.deepEqual(types(n.handle({ option: NBD_OPT_SET_META_CONTEXT, data: Buffer.from([1]) })), [
      NBD_REP_ERR_INVALID,
    ]);
    const res = n.handle(go('vol0'));
    assert.ok(res.outcome.next === 'transmission');
    assert.equal(res.outcome.negotiated.contexts.length, 0);
  });

  it('TLS off: STARTTLS is ERR_UNSUP', () => {
    assert.deepEqual(types(negotiator('off').handle({ option: NBD_OPT_STARTTLS, data: none })), [
      NBD_REP_ERR_UNSUP,
    ]);
  });

  it('FORCEDTLS: everything but STARTTLS and ABORT is ERR_TLS_REQD; EXPORT_NAME hangs up', () => {
    const n = negotiator('require');
    for (const opt of [go('vol0'), { option: NBD_OPT_LIST, data: none }, { option: 99, data: none }]) {
      assert.deepEqual(types(n.handle(opt)), [NBD_REP_ERR_TLS_REQD]);
    }
    assert.equal(
      n.handle({ option: NBD_OPT_EXPORT_NAME, data: Buffer.from('vol0') }).outcome.next,
      'disconnect',
    );
    const abort = n.handle({ option: NBD_OPT_ABORT, data: none });
    assert.deepEqual(types(abort), [NBD_REP_ACK]);
    assert.equal(abort.outcome.next, 'abort');
  });

  it('STARTTLS: ACK then starttls; state is reset; a second STARTTLS is invalid', () => {
    const n = negotiator('require');
    assert.deepEqual(types(n.handle({ option: NBD_OPT_STARTTLS, data: Buffer.from('x') })), [
      NBD_REP_ERR_INVALID,
    ]);
    const res = n.handle({ option: NBD_OPT_STARTTLS, data: none });
    assert.deepEqual(types(res), [NBD_REP_ACK]);
    assert.equal(res.outcome.next, 'starttls');
    n.tlsStarted();
    assert.deepEqual(types(n.handle({ option: NBD_OPT_STARTTLS, data: none })), [NBD_REP_ERR_INVALID]);
    assert.deepEqual(types(n.handle({ option: NBD_OPT_LIST, data: none })).at(-1), NBD_REP_ACK);
  });

  it('STARTTLS forgets structured replies and meta contexts negotiated in plaintext', () => {
    const n = negotiator('optional');
    n.handle({ option: NBD_OPT_STRUCTURED_REPLY, data: none });
    n.handle(setMeta('vol0', ['base:allocation']));
    n.handle({ option: NBD_OPT_STARTTLS, data: none });
    n.tlsStarted();
    const res = n.handle(go('vol0'));
    assert.ok(res.outcome.next === 'transmission');
    assert.equal(res.outcome.negotiated.structuredReplies, false);
    assert.equal(res.outcome.negotiated.contexts.length, 0);
  });
});
