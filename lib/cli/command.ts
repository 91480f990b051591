import type {Command} from 'commander';
import type {GlobalOptions, Io} from './context.js';

/** What a command's action reports back to `cli/index`, which alone decides the exit code. */
export interface CliState {
  io: Io;
  exitCode: number;
}

/** The global options as seen from inside a command's action. */
export function globals(command: Command): GlobalOptions {
  return command.optsWithGlobals() as GlobalOptions;
}
