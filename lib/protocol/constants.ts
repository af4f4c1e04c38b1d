// The protocol's constants and the daemon's defaults: the one copy every binary, bench and test
// imports. Pure (no I/O, no addon), so `memlogd --help` and the clients load it for free.

/** Reference default path of the logging (fd hand-off) socket. */
export const DEFAULT_LOG_SOCKET = '/var/run/linuxkit-external-logging.sock';
/** Reference default path of the query socket. */
export const DEFAULT_QUERY_SOCKET = '/var/run/memlogdq.sock';

/** Query mode bytes (reference: logread sends one of these and nothing else). */
export const MODE_DUMP = 0;
export const MODE_FOLLOW = 1;
export const MODE_DUMP_FOLLOW = 2;
/** The v2 mode each v1 mode byte stands for (stats and logs name readers this way). */
export const V1_MODE_NAMES = ['dump', 'follow', 'dump+follow'] as const;

/** Reference reads at most 512 bytes of name from a logging datagram. */
export const MAX_NAME_LEN = 512;

/** Name under which memlogd records its own events (start, rejected input, reader gaps). */
export const SELF_SOURCE = 'memlogd';

/**
 * Sources named from the syslog socket start with this (`syslog.<ident>`); the logging socket
 * refuses such names, so they always mean a syslog message.
 */
export const SYSLOG_SOURCE_PREFIX = 'syslog.';

/** Every local user may log to /dev/log on Linux: so may they to memlogd's syslog socket. */
export const DEFAULT_SYSLOG_SOCKET_MODE = 0o666;

/** Suffix LinuxKit init gives the stdout stream of a container; stderr has no suffix. */
export const STDOUT_SUFFIX = '.out';

/** Largest v2 request line (bytes, newline included). */
export const MAX_REQUEST_BYTES = 64 * 1024;
/** First byte of a v2 request. */
export const V2_REQUEST_BYTE = 0x7b; // {

/** Only root (and the daemon's own user) may hand fds to memlogd: it logs whatever they say. */
export const DEFAULT_LOG_SOCKET_MODE = 0o600;
/** Owner and group may read the logs. */
export const DEFAULT_QUERY_SOCKET_MODE = 0o660;

/** memlogd's defaults, where a flag does not say otherwise. */
export const DAEMON_DEFAULTS = {
  socketLog: DEFAULT_LOG_SOCKET,
  socketQuery: DEFAULT_QUERY_SOCKET,
  /** reference default */
  maxLines: 5000,
  /** reference default */
  maxLineLen: 1024,
  // Reference worst case is 5000 lines x 1024 bytes = 5 MiB; 8 MiB keeps that plus continuation
  // pieces of long lines, and stays far below the 80 MB RSS budget.
  maxBytes: 8 * 1024 * 1024,
  /** A silent query client is disconnected after this long (the reference waits forever). */
  handshakeTimeoutMs: 10_000,
  /**
   * Sources whose lines may start with `<N>` (their priority), as `GLOB[:FACILITY]` (the facility
   * of lines that give only a level): kmsg writes it (LinuxKit's service name), for the kernel.
   */
  levelPrefix: ['kmsg:kern'] as string[],
  /** Program names (sources `syslog.<ident>`) one uid may make on the syslog socket. */
  syslogIdentsPerUid: 64,
};
