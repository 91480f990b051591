import {Command} from 'commander';
import {ConfigError} from '../errors/index.js';
import {detectionRates, eachDetection, matchesDetection, type DetectionFilter} from '../inspect/index.js';
import {startOfDay, timeBounds} from '../query/index.js';
import type {Doc} from '../store/index.js';
import {globals, type CliState} from './command.js';
import {readConfig, withStore, type Io} from './context.js';
import {addTimeOptions, collect, numberOption, type TimeOptions} from './options.js';
import {plural} from './text.js';

interface DetectionsArgs extends TimeOptions {
  run: string[];
  source: string[];
  minAmplitude?: number;
  maxAmplitude?: number;
  rate?: string;
  json?: boolean;
}

/** Print items as they come: one line each, or a JSON array with one item a line; returns how many. */
async function printEach<T>(io: Io, items: AsyncIterable<T>, json: boolean, line: (item: T) => string): Promise<number> {
  let count = 0;
  let held: string | undefined;
  if (json) io.out('[');
  for await (const item of items) {
    count++;
    if (!json) {
      io.out(line(item));
      continue;
    }
    // One item a line; each but the last followed by a comma, so one is held back.
    if (held !== undefined) io.out(`${held},`);
    held = JSON.stringify(item);
  }
  if (json) {
    if (held !== undefined) io.out(held);
    io.out(']');
  }
  return count;
}

async function* filtered(items: AsyncIterable<Doc>, filter: DetectionFilter): AsyncGenerator<Doc> {
  for await (const item of items) if (matchesDetection(item, filter)) yield item;
}

export function detectionsCommand(state: CliState): Command {
  const base = new Command('detections')
    .description('detection documents in a time range (epoch seconds or ISO 8601), in time order, or their counts per hour or day');
  return addTimeOptions(base, {from: 'start of the range, included (default: the first)', to: 'end of the range, included (default: the last)', tz: 'zone of named ranges and --rate days'})
    .option('--run <run>', 'of this run (repeat for several)', collect, [])
    .option('--source <id>', 'from this data-file document (repeat for several)', collect, [])
    .option('--min-amplitude <a>', 'amplitude at least A', numberOption('--min-amplitude', {integer: false, min: -Infinity}))
    .option('--max-amplitude <a>', 'amplitude at most A', numberOption('--max-amplitude', {integer: false, min: -Infinity}))
    .option('--rate <bin>', 'print counts per hour or day (bins with none are left out) rather than the detections')
    .option('--json', 'print an array of documents (with --rate: of {"start","count"}), one per line')
    .action(async (options: DetectionsArgs, command: Command) => {
      const {io} = state;
      const config = readConfig(globals(command), io);
      const {from, to, toExclusive} = timeBounds(options);
      if (options.rate !== undefined && options.rate !== 'hour' && options.rate !== 'day') throw new ConfigError(`--rate ${options.rate}: expected hour or day`);
      const filter: DetectionFilter = {runs: options.run, sources: options.source, minAmplitude: options.minAmplitude, maxAmplitude: options.maxAmplitude};
      // Printed as read, a page at a time: any number of detections in the memory of one page.
      await withStore(config, async (store) => {
        const detections = filtered(eachDetection(store, from, to, {toExclusive}), filter);
        if (options.rate) {
          const bin = options.rate === 'hour' ? (t: number) => Math.floor(t / 3600) * 3600 : (t: number) => startOfDay(t, options.tz);
          const bins = await printEach(io, detectionRates(detections, bin), !!options.json, (b) => `${b.start}  ${b.count}`);
          if (!options.json) io.err(plural(bins, options.rate));
          return;
        }
        const count = await printEach(io, detections, !!options.json, (d) =>
          `${new Date(Number(d.time) * 1000).toISOString()}  ${String(d.channel).padEnd(12)} amplitude ${Number(d.amplitude).toFixed(1).padStart(8)}  ${String(d.source)}`);
        if (!options.json) io.err(plural(count, 'detection'));
      });
    });
}
