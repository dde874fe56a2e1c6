/** Whether the file system of `dir` takes O_DIRECT (tmpfs does not): direct writes then fall back to buffered. */
import { constants } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';

export async function directIo(dir: string): Promise<boolean> {
  const probe = join(dir, '.direct-io-probe');
  try {
    const fh = await open(probe, constants.O_CREAT | constants.O_WRONLY | constants.O_DIRECT);
    await fh.close();
    return true;
  } catch {
    return false;
  } finally {
    await rm(probe, { force: true });
  }
}
