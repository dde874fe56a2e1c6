import { MemoryDevice } from '../../../src/block/memory-device.js';
import { deviceConformance } from '../../helpers/device-conformance.js';

deviceConformance('MemoryDevice', async (sizeBytes) => ({
  device: new MemoryDevice(sizeBytes),
  close: async () => {},
}));
