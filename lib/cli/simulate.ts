import {Command} from 'commander';
import {simulate} from '../simulate/index.js';
import type {CliState} from './command.js';
import {numberOption} from './options.js';

export function simulateCommand(state: CliState): Command {
  return new Command('simulate')
    .description('write simulated raw data files, conditions.json and truth.json')
    .requiredOption('--out <dir>', 'folder to write to')
    .requiredOption('--files <n>', 'number of data files', numberOption('--files', {min: 1}))
    .option('--events <m>', 'pulses per file', numberOption('--events'))
    .option('--seed <s>', 'random seed (same seed, same files)', numberOption('--seed'))
    .option('--noise <sigma>', 'gaussian noise sigma in ADC units', numberOption('--noise', {integer: false}))
    .option('--run <name>', 'run name in file names')
    .action(async (options: {out: string; files: number; events?: number; seed?: number; noise?: number; run?: string}) => {
      const result = await simulate({outDir: options.out, files: options.files, events: options.events, seed: options.seed, noise: options.noise, run: options.run});
      state.io.out(`wrote ${result.files.length} data files, ${result.conditions} and ${result.truth}`);
    });
}
