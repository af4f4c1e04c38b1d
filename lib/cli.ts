// Shared plumbing of the thin cmd/* entry points: usage errors exit 2, a daemon that cannot be
// reached exits 3, anything else 1, always with one clear line on stderr.

import { Command, CommanderError } from 'commander';
import { ERR_CONNECT } from './client.js';

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;
export const EXIT_CONNECT = 3;

/** A commander program that throws instead of exiting, so main() maps the exit code. */
export function program(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .showHelpAfterError(false);
}

/** Runs main and exits with the code it returns or the one its error maps to. */
export function run(name: string, main: () => Promise<number | void>): void {
  main().then(
    (code) => {
      process.exitCode = code ?? EXIT_OK;
    },
    (err: Error & { code?: string; exitCode?: number }) => {
      if (err instanceof CommanderError) {
        // help and version print and exit 0; every other commander error is a usage error
        process.exit(err.exitCode === 0 ? EXIT_OK : EXIT_USAGE);
      }
      process.stderr.write(`${name}: ${err.message}\n`);
      process.exit(err.code === ERR_CONNECT ? EXIT_CONNECT : err.code === 'ERR_USAGE' ? EXIT_USAGE : EXIT_ERROR);
    },
  );
}
