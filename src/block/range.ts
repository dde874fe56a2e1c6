/**
 * Range checks shared by every BlockDevice: validate once at the edge (STYLE.md point 3).
 */
import { ReboundError } from '../errors.js';
import type { BlockDevice } from './device.js';

/** Reject a request that runs past the device, or a write to a read-only device. */
export function checkRange(device: BlockDevice, offset: number, length: number, write = false): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new ReboundError('INVALID_ARGUMENT', `bad offset ${offset} or length ${length}`);
  }
  if (offset + length > device.sizeBytes) {
    throw new ReboundError(
      'OUT_OF_RANGE',
      `request [${offset}, ${offset + length}) runs past the end of the device (${device.sizeBytes} bytes)`,
      { detail: { offset, length, sizeBytes: device.sizeBytes } },
    );
  }
  if (write && device.readOnly) {
    throw new ReboundError('READ_ONLY', 'the device is read-only');
  }
}
