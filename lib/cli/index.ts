import {Command, CommanderError} from 'commander';
import {EdwError} from '../errors/index.js';
import type {CliState} from './command.js';
import {processIo, type Io} from './context.js';
import {demoCommand} from './demo.js';
import {initCommand, pushDesignCommand} from './init.js';
import {detectionsCommand, listCommand, listenersCommand, retryCommand, showCommand, statusCommand} from './inspect.js';
import {listenCommand} from './listen.js';
import {registerCommand} from './register.js';
import {simulateCommand} from './simulate.js';

/** Build the `edw` program; actions report through `state`. */
export function buildProgram(state: CliState): Command {
  const program = new Command('edw')
    .description('process experiment data files through a CouchDB change feed')
    .option('--config <path>', 'edw.ini to read (default: ./edw.ini if present, else built-in defaults)')
    .option('--debug', 'debug logging, and stack traces for unexpected errors')
    .exitOverride()
    .configureOutput({writeOut: (s) => state.io.out(s.trimEnd()), writeErr: (s) => state.io.err(s.trimEnd())});
  for (const make of [initCommand, pushDesignCommand, registerCommand, simulateCommand, listenCommand, statusCommand, listCommand, showCommand, retryCommand, detectionsCommand, listenersCommand, demoCommand]) {
    program.addCommand(make(state).exitOverride().configureOutput({writeOut: (s) => state.io.out(s.trimEnd()), writeErr: (s) => state.io.err(s.trimEnd())}));
  }
  return program;
}

/**
 * Run edw with `argv` (without node and script). Returns the exit code: 0 done; 1 a failure (part of
 * what was asked failed, a server unreachable); 2 bad usage or configuration.
 */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const state: CliState = {io, exitCode: 0};
  const program = buildProgram(state);
  try {
    await program.parseAsync(argv, {from: 'user'});
    return state.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are not errors; any other usage problem is bad usage (2), which commander reports as 1.
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help' ? 0 : 2;
    }
    if (error instanceof EdwError) {
      io.err(`edw: ${error.message}`);
      if (argv.includes('--debug') && error.cause) io.err(String((error.cause as Error).stack ?? error.cause));
      return error.exitCode;
    }
    const e = error as Error;
    io.err(`edw: unexpected error: ${e.message?.split('\n')[0] ?? String(error)}${argv.includes('--debug') ? '' : ' (run with --debug for details)'}`);
    if (argv.includes('--debug')) io.err(String(e.stack));
    return 1;
  }
}
