// Public library surface: run the daemon, hand fds to it, query it, from TypeScript.
export { Daemon, DEFAULTS, type DaemonOptions } from './daemon/daemon.js';
export { daemonize } from './daemon/daemonize.js';
export { sendFds, openLogStream } from './client/handoff.js';
export { logexec, type LogexecOptions } from './logexec/logexec.js';
export { connectQuery, readEntries, ERR_CONNECT } from './client/query.js';
export { logread, type LogreadOptions } from './logread/command.js';
export { Logwriter } from './logwrite/writer.js';
export { LOGWRITE_DEFAULTS, type LogwriteOptions } from './logwrite/options.js';
export * as protocol from './protocol/index.js';
export { logforward, parseDestinations } from './forward/command.js';
export { FORWARD_DEFAULTS, type ForwardOptions } from './forward/options.js';
