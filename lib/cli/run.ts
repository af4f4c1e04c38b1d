// Shared plumbing of the thin cmd/* entry points: a commander program that throws instead of
// exiting, and run(), which maps what main returns or throws to an exit status, always with one
// clear line on stderr.

import { Command, CommanderError } from 'commander';
import { codeOf } from '../protocol/errors.js';
import { EXIT_OK, EXIT_USAGE, exitStatusOf } from './exit.js';

export { EXIT_CONNECT, EXIT_ERROR, EXIT_OK, EXIT_USAGE } from './exit.js';

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
    (err: Error) => {
      if (err instanceof CommanderError) {
        // help and version print and exit 0; every other commander error is a usage error
        process.exit(err.exitCode === 0 ? EXIT_OK : EXIT_USAGE);
      }
      process.stderr.write(`${name}: ${err.message}\n`);
      process.exit(exitStatusOf(codeOf(err)));
    },
  );
}
