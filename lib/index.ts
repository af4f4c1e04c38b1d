// Public library surface: run the daemon, hand fds to it, query it, from TypeScript.
export { Daemon, DEFAULTS, type DaemonOptions } from './daemon.js';
export { daemonize } from './daemonize.js';
export { sendFds } from './log-socket.js';
export { openLogStream, logexec, type LogexecOptions } from './logexec.js';
export { connectQuery, readEntries, ERR_CONNECT } from './client.js';
export { logread, type LogreadOptions } from './logread.js';
export { Logwriter, LOGWRITE_DEFAULTS, type LogwriteOptions } from './logwrite.js';
export * as protocol from './protocol.js';
