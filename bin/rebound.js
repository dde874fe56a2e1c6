#!/usr/bin/env node
// The rebound executable. Drive I/O goes through libuv's thread pool; its default of 4
// threads caps a node at 4 concurrent drive requests, so raise it before anything runs.
process.env.UV_THREADPOOL_SIZE ??= '16';
const { main } = await import('../dist/src/cli/main.js');
process.exitCode = await main(process.argv);
