// The wire protocol, in one place. Every binary, bench and test imports it from here: LinuxKit's
// own copies of this protocol drifted apart, ours must not.
//
// Protocol v1 (LinuxKit memlogd, must not change):
// - logging socket: AF_UNIX SOCK_DGRAM; payload = source name bytes, SCM_RIGHTS = fds to read.
// - query socket: AF_UNIX SOCK_STREAM; client sends one mode byte, server answers NDJSON
//   {"time","source","msg"} with Go's encoding/json escaping and RFC3339Nano times.
// Protocol v2 (docs/protocol.md): a JSON request line, records with sequence numbers and cursors.
// Everything here is pure: no sockets, no files, no addon.

export * from './constants.js';
export * from './cursor.js';
export * from './errors.js';
export * from './gap.js';
export * from './glob.js';
export * from './json.js';
export * from './severity.js';
export * from './stats.js';
export * from './time.js';
export * from './v1.js';
export * from './v2.js';
