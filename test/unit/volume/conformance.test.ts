/** The shared BlockDevice suite on a volume's engine device and on its host device. */
import { deviceConformance } from '../../helpers/device-conformance.js';
import { tempStorage } from './helpers.js';

for (const kind of ['device', 'hostDevice'] as const) {
  deviceConformance(`volume ${kind}`, async (sizeBytes) => {
    const t = await tempStorage();
    await t.storage.createVolume('v', sizeBytes);
    return { device: t.storage[kind]('v'), close: () => t.cleanup() };
  });
}

// Small blocks (4 KiB) and a volume with a snapshot and an active bitmap: the COW and
// marking paths must keep the same contract.
deviceConformance('volume with 4 KiB blocks, a snapshot and a bitmap', async (sizeBytes) => {
  const t = await tempStorage({ drives: [{ sizeBytes: 32 * 1024 * 1024 }], blockSizeBytes: 4096 });
  await t.storage.createVolume('v', sizeBytes);
  await t.storage.createBitmap('v', 'b');
  await t.storage.createSnapshot('v', 's');
  return { device: t.storage.device('v'), close: () => t.cleanup() };
});
