/**
 * V8's tiering for a storage node's work, set on import: import this module before any
 * other (bin/rebound.js, and the benches that host a node in their own process), so every
 * function is created under it.
 *
 * A node's work comes in bursts of code it has never run: a failback's copy of 20,000
 * scattered blocks, the verify after it, a restore. With V8's default interrupt budget,
 * TurboFan optimises hundreds of functions in the first milliseconds of such a burst, and
 * again after each deopt (byte offsets pass 2^31 a quarter of the way through an 8 GiB
 * volume). On the 2-core bench machine that compiling took 0.36 CPU-seconds of the
 * secondary's 1.0 during a remote-copy failback, and a whole core on the primary through
 * the verify, while the two nodes' own threads waited for CPU (perf, bench:failback).
 *
 * Ten times the budget: code that runs for a moment stays in the baseline tiers, and
 * TurboFan still takes what stays hot (a function is optimised after ten times as many
 * calls or loop iterations). Measured with bench:failback, the secondary alone changed,
 * alternated in one run: remote copy 1.1 and 1.3 s against 1.6 and 1.3 s by default; the
 * secondary's CPU 0.75-0.89 s against 0.97-1.02 s. The cost is a slower start: `npm run
 * bench` on a node just started (1 GiB, 5 s fio runs, one run each way) gave random
 * writes 9-16% and the first sequential write 25% lower, reads from 11% lower to 7%
 * higher (qemu-nbd's own figures moved by up to 19% between the two runs).
 */
import { setFlagsFromString } from 'node:v8';

/** V8's default (--interrupt-budget=67584 in Node 20's V8 11.3), times ten. */
export const INTERRUPT_BUDGET = 10 * 67_584;

setFlagsFromString(`--interrupt-budget=${INTERRUPT_BUDGET}`);
