/**
 * SPEC S501 / S705's bitmap: move an active update bitmap's bits into a frozen one, the
 * one freeze both a copy pair and a local copy into a virtual volume use. When `into`
 * exists already (a start retried after a crash or a failed connect, a local copy run
 * again), the new bits are merged into it rather than replacing it, so no block of the
 * first freeze is ever forgotten (copying a few blocks more is harmless).
 */
import { createHash } from 'node:crypto';
import type { Storage } from '../volume/index.js';

export async function freezeInto(
  storage: Storage,
  volume: string,
  from: string,
  into: string,
  /** Names the temporary bitmap of a merge (the pair or task name). */
  owner: string,
): Promise<void> {
  if (!storage.listBitmaps(volume).some((x) => x.name === into)) {
    await storage.freezeBitmap(volume, from, into);
    return;
  }
  const tmp = `freeze.${createHash('sha256').update(owner).digest('hex').slice(0, 16)}`;
  await storage.freezeBitmap(volume, from, tmp);
  await storage.mergeBitmap(volume, tmp, into);
  await storage.deleteBitmap(volume, tmp);
}
