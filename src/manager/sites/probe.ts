/**
 * Asking a secondary node whether it is up, and what it is: every provider ends its
 * build() here, so "built" always means "its API answered with the token we hand back".
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isReboundError, ReboundError } from '../../errors.js';
import { NodeClient } from '../../node/client.js';
import type { BuiltNode, BuiltNodeTls } from './types.js';

const POLL_MS = 100;
/** One health call; a node that is up answers in milliseconds. */
const CALL_TIMEOUT_MS = 5_000;

export interface ProbeTarget {
  url: string;
  token: string;
  /** Where hosts reach NBD, when not what the node reports (a NAT, a load balancer). */
  nbd?: { host: string; port: number };
  tls: BuiltNodeTls;
}

/** GET /v1/health then /v1/node; the node's own error (NODE_UNREACHABLE, NODE_AUTH) when it fails. */
export async function probeNode(target: ProbeTarget): Promise<BuiltNode> {
  const client = new NodeClient(target.url, target.token, { timeoutMs: CALL_TIMEOUT_MS });
  try {
    await client.health();
    const id = await client.identity();
    const host = ['0.0.0.0', '::', ''].includes(id.nbd.host) ? new URL(target.url).hostname : id.nbd.host;
    return {
      url: target.url,
      token: target.token,
      serial: id.serial,
      nbd: target.nbd ?? { host, port: id.nbd.port },
      tls: target.tls,
    };
  } catch (err) {
    if (isReboundError(err, 'UNAUTHORIZED')) {
      throw new ReboundError(
        'NODE_AUTH',
        `the node at ${target.url} refused the token it was built with; check the token in the site's config or its node.json`,
        { cause: err },
      );
    }
    throw err;
  }
}

/**
 * probeNode until it answers or `timeoutMs` passes (a node just started needs a moment);
 * `gone()` true stops early (the process died). Throws the last error.
 */
export async function waitForNode(
  target: ProbeTarget,
  timeoutMs: number,
  gone: () => boolean = () => false,
): Promise<BuiltNode> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await probeNode(target);
    } catch (err) {
      if (isReboundError(err, 'NODE_AUTH') || gone() || Date.now() + POLL_MS >= until) throw err;
    }
    await sleep(POLL_MS);
  }
}
