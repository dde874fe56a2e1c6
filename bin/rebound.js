#!/usr/bin/env node
// The rebound executable. Drive I/O goes through libuv's thread pool, whose default of 4
// threads caps a node at 4 concurrent drive requests. The pool is sized when Node starts
// (its module loader already uses it), so set UV_THREADPOOL_SIZE=16 in the environment of
// a node: `npm start` and the local site provider do; see the README.
// V8's tiering for a node's bursts of work (src/v8-tuning.ts): set before any other
// module is loaded.
await import('../dist/src/v8-tuning.js');
const { main } = await import('../dist/src/cli/main.js');
process.exitCode = await main(process.argv);
