// Every error memlogd's code raises on purpose carries a stable `code` from this module (undici's
// errors.js is the model): callers branch on codes, never on messages, and lib/cli/exit.ts maps
// them to exit statuses. System call failures keep Node's own codes (ENOENT, EAGAIN, ...).
// Pure.

export const ERR = {
  /** A flag or argument is wrong (exit status 2). */
  USAGE: 'ERR_USAGE',
  /** memlogd's socket cannot be reached (exit status 3). */
  CONNECT: 'ERR_MEMLOGD_CONNECT',
  /** memlogd sent something that is not protocol. */
  PROTOCOL: 'ERR_MEMLOGD_PROTOCOL',
  /** memlogd closed the connection before the answer was complete. */
  CLOSED: 'ERR_MEMLOGD_CLOSED',
  /** A v2 request memlogd refused as malformed. */
  BAD_REQUEST: 'ERR_BAD_REQUEST',
  REQUEST_TOO_LARGE: 'ERR_REQUEST_TOO_LARGE',
  /** A request whose filter (grep, source globs) used more of memlogd's time than it may. */
  QUERY_TOO_EXPENSIVE: 'ERR_QUERY_TOO_EXPENSIVE',
  /** The peer's uid is not in the allow-list. */
  ACCESS_DENIED: 'ERR_ACCESS_DENIED',
  /** A number outside what a bound allows (store sizes, line lengths). */
  OUT_OF_RANGE: 'ERR_OUT_OF_RANGE',
  /** A source name longer than the protocol's 512 bytes. */
  NAME_TOO_LONG: 'ERR_NAME_TOO_LONG',
  /** Something that is not a socket sits at a socket path. */
  SOCKET_PATH_TAKEN: 'ERR_SOCKET_PATH_TAKEN',
  /** Another memlogd answers on the socket path. */
  RUNNING: 'ERR_MEMLOGD_RUNNING',
  /** The background child of -daemonize did not report ready. */
  DAEMONIZE: 'ERR_DAEMONIZE',
  /** The native addon is not built. */
  NATIVE_MISSING: 'ERR_MEMLOGD_NATIVE_MISSING',
  /** logread cannot write its cursor file. */
  CURSOR_FILE: 'ERR_CURSOR_FILE',
  /** logforward cannot read or write its state file. */
  STATE_FILE: 'ERR_STATE_FILE',
  /** A client's state file is there but is not a state (it starts over from what memlogd holds). */
  STATE_INVALID: 'ERR_STATE_INVALID',
  /** Another logwrite holds the log directory. */
  LOGWRITE_LOCKED: 'ERR_LOGWRITE_LOCKED',
  /** A graceful restart did not happen (memlogd serves on, and said why). */
  RESTART: 'ERR_MEMLOGD_RESTART',
} as const;

export type ErrorCode = (typeof ERR)[keyof typeof ERR];

/** An error with a stable code; `path` when it concerns a file. */
export class MemlogdError extends Error {
  readonly path?: string;
  constructor(readonly code: ErrorCode, message: string, options?: { cause?: unknown; path?: string }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'MemlogdError';
    if (options?.path !== undefined) this.path = options.path;
  }
}

/** A usage error: one clear line, exit status 2. */
export class UsageError extends MemlogdError {
  constructor(message: string) {
    super(ERR.USAGE, message);
    this.name = 'UsageError';
  }
}

/** A protocol error a client can branch on (also what the server sends in an error record). */
export class ProtocolError extends MemlogdError {
  declare readonly code: 'ERR_BAD_REQUEST' | 'ERR_REQUEST_TOO_LARGE' | 'ERR_QUERY_TOO_EXPENSIVE' | 'ERR_ACCESS_DENIED' | 'ERR_MEMLOGD_PROTOCOL';
  constructor(code: ProtocolError['code'], message: string) {
    super(code, message);
    this.name = 'ProtocolError';
  }
}

/** A bound or size outside what is allowed: a RangeError, as Node's own ERR_OUT_OF_RANGE is. */
export class OutOfRangeError extends RangeError {
  readonly code = ERR.OUT_OF_RANGE;
  constructor(message: string) {
    super(message);
    this.name = 'OutOfRangeError';
  }
}

/** A write the file system refused (ENOSPC, EDQUOT, EROFS, EIO...): the writer waits and retries. */
export class DiskError extends Error {
  constructor(readonly code: string, readonly file: string, cause: unknown) {
    super(`${file}: ${(cause as Error).message}`, { cause });
    this.name = 'DiskError';
  }
}

/** Does err carry this code? */
export function hasCode(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

/** The code of an error (ours or Node's), or undefined. */
export function codeOf(err: unknown): string | undefined {
  const c = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof c === 'string' ? c : undefined;
}
