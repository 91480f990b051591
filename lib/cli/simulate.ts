import {Command} from 'commander';
import {ConfigError} from '../errors/index.js';
import {simulate} from '../simulate/index.js';
import type {CliState} from './command.js';

function number(option: string, integer: boolean) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) throw new ConfigError(`${option} ${value}: expected a ${integer ? 'whole ' : ''}number of at least 0`);
    return n;
  };
}

export function simulateCommand(state: CliState): Command {
  return new Command('simulate')
    .description('write simulated raw data files, conditions.json and truth.json')
    .requiredOption('--out <dir>', 'folder to write to')
    .requiredOption('--files <n>', 'number of data files', number('--files', true))
    .option('--events <m>', 'pulses per file', number('--events', true))
    .option('--seed <s>', 'random seed (same seed, same files)', number('--seed', true))
    .option('--noise <sigma>', 'gaussian noise sigma in ADC units', number('--noise', false))
    .option('--run <name>', 'run name in file names')
    .action(async (options: {out: string; files: number; events?: number; seed?: number; noise?: number; run?: string}) => {
      const result = await simulate({outDir: options.out, files: options.files, events: options.events, seed: options.seed, noise: options.noise, run: options.run});
      state.io.out(`wrote ${result.files.length} data files, ${result.conditions} and ${result.truth}`);
    });
}
