// Exit statuses of every command, and which error code maps to which: usage errors exit 2, a
// daemon that cannot be reached exits 3, anything else 1. Branches on codes, never on messages.

import { ERR } from '../protocol/errors.js';

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;
export const EXIT_CONNECT = 3;

const BY_CODE: Record<string, number> = {
  [ERR.USAGE]: EXIT_USAGE,
  [ERR.CONNECT]: EXIT_CONNECT,
};

/** The exit status for an error with this code (EXIT_ERROR for any other). */
export function exitStatusOf(code: string | undefined): number {
  return (code !== undefined ? BY_CODE[code] : undefined) ?? EXIT_ERROR;
}
