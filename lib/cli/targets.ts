import type {Command} from 'commander';
import type {Config} from '../config/index.js';
import {loadSteps} from '../../listeners/index.js';
import type {ChainEntry, Targets} from '../provenance/index.js';
import {collect} from './period.js';

/** The options that say which documents a command runs over (`resolveTargets`), added to `command`. */
export function targetOptions(command: Command, what: string): Command {
  return command
    .argument('[id...]', `document ids ${what}`)
    .option('--run <run>', `the files of this run (repeatable)`, collect)
    .option('--query <qid>', 'the documents of a saved query (edw query)')
    .option('--period <name>', 'the files of a period (every file marked in it)')
    .option('--selection <name>', 'the documents of a saved selection (its current version)');
}

/** The targets a command was given, as resolveTargets takes them. */
export function targetsOf(ids: string[], options: {run?: string[]; query?: string; period?: string; selection?: string}): Targets {
  return {...(ids.length ? {ids} : {}), ...(options.run ? {run: options.run} : {}), ...(options.query !== undefined ? {query: options.query} : {}),
    ...(options.period !== undefined ? {period: options.period} : {}), ...(options.selection !== undefined ? {selection: options.selection} : {})};
}

/** The configured chain with the version each step runs at (edw.ini's, else the step's own): settings are checked as by listen. */
export async function configuredChain(config: Config): Promise<ChainEntry[]> {
  return (await loadSteps(config.steps)).map((s) => ({name: s.name, after: s.after, version: s.version}));
}
