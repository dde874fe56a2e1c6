/**
 * Memory that direct I/O can write from. O_DIRECT wants the buffer's address aligned to
 * the device's logical block (512 or 4096 bytes), and JavaScript can neither ask for an
 * alignment nor see an address: a (Shared)ArrayBuffer sits wherever malloc put it,
 * usually 16 bytes past a page. A WebAssembly memory is always mapped on its own, page
 * aligned (V8 reserves it with mmap), so a Buffer over a shared WebAssembly.Memory is
 * aligned to 4096 at every byteOffset that is a multiple of 4096; being shared, the codec
 * pool's workers write into it in place like any SharedArrayBuffer.
 *
 * `isAligned` is how a writer knows: memory from `alignedBuffer` is registered here.
 */

/** The alignment every buffer of this module has at byteOffset 0. */
export const MEMORY_ALIGNMENT = 4096;

const WASM_PAGE = 64 * 1024;
/** A 32-bit WebAssembly memory holds at most 65536 pages (4 GiB). */
const MAX_PAGES = 65536;

const aligned = new WeakSet<ArrayBufferLike>();

/** The part of the WebAssembly global used here (this project's TypeScript libs do not declare it). */
const { Memory } = (
  globalThis as unknown as {
    WebAssembly: {
      Memory: new (d: { initial: number; maximum: number; shared: boolean }) => { buffer: SharedArrayBuffer };
    };
  }
).WebAssembly;

/**
 * A zero-filled Buffer of `length` bytes in shared memory aligned to MEMORY_ALIGNMENT
 * (falls back to a plain SharedArrayBuffer, not registered as aligned, when the length
 * is beyond a WebAssembly memory or the runtime refuses one).
 */
export function alignedBuffer(length: number): Buffer {
  const pages = Math.max(1, Math.ceil(length / WASM_PAGE));
  if (pages <= MAX_PAGES) {
    try {
      const memory = new Memory({ initial: pages, maximum: pages, shared: true });
      aligned.add(memory.buffer);
      return Buffer.from(memory.buffer, 0, length);
    } catch {
      // out of address space or no shared wasm memory: unaligned is still correct
    }
  }
  return Buffer.from(new SharedArrayBuffer(length));
}

/** True when `buf`'s address is known to be a multiple of `alignment` (<= MEMORY_ALIGNMENT). */
export function isAligned(buf: Uint8Array, alignment: number): boolean {
  return alignment <= MEMORY_ALIGNMENT && aligned.has(buf.buffer) && buf.byteOffset % alignment === 0;
}
