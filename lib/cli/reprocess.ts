import {Command} from 'commander';
import {ConfigError} from '../errors/index.js';
import {reprocess, resolveTargets} from '../provenance/index.js';
import {globals, type CliState} from './command.js';
import {readConfig, withStore} from './context.js';
import {configuredChain, targetOptions, targetsOf} from './targets.js';
import {plural} from './text.js';

export function reprocessCommand(state: CliState): Command {
  const command = new Command('reprocess')
    .description('run a step and every step after it again on documents (at the configured versions), appending new entries; nothing is rewritten')
    .requiredOption('--step <step>', 'the first step to run again')
    .option('--version <version>', 'the version it must run at (as set in edw.ini)')
    .requiredOption('--reason <text>', 'why (recorded with it)')
    .option('--json', 'print the reprocess:<id> record');
  return targetOptions(command, 'to process again').action(async (ids: string[], options: {step: string; version?: string; reason: string; json?: boolean; run?: string[]; query?: string; period?: string; selection?: string}, cmd: Command) => {
    const {io} = state;
    const config = readConfig(globals(cmd), io);
    const chain = await configuredChain(config);
    if (!chain.some((s) => s.name === options.step)) throw new ConfigError(`unknown step ${options.step} (steps: ${chain.map((s) => s.name).join(', ')})`);
    const record = await withStore(config, async (store) => {
      const targets = await resolveTargets(store, targetsOf(ids, options));
      return reprocess(store, {chain, step: options.step, version: options.version, targets, reason: options.reason});
    });
    if (options.json) io.out(JSON.stringify(record));
    else {
      const steps = Object.entries(record.versions).map(([s, v]) => `${s} v${v}`).join(', ');
      io.out(`${record._id}: ${plural(record.marked.length, 'document')} will run ${steps} again`);
      for (const s of record.skipped) io.err(`skipped ${s.id}: ${s.why}`);
    }
    if (record.skipped.some((s) => s.why.startsWith('no such'))) state.exitCode = 1;
  });
}
