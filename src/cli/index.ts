/**
 * cli/: the `rebound` executable. One program with subcommands (commander): node verbs
 * talk to a node's control API through its typed client; `node run` and `up` run daemons
 * in the foreground. Output is for people unless `--json`; errors carry their stable code.
 */

export { formatBytes, parseSize } from '../units.js';
export { buildProgram, main } from './main.js';
