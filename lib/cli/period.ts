import {Command} from 'commander';
import {parseTime} from '../query/index.js';
import type {PeriodDoc, PeriodKind} from '../pipeline/index.js';
import {addPeriod, listPeriods, removePeriod, showPeriod} from '../provenance/index.js';
import {globals, type CliState} from './command.js';
import {readConfig, withStore} from './context.js';
import {plural} from './text.js';

/** A repeatable option's values, in the order given. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

const iso = (seconds: number | undefined): string => (seconds === undefined ? '-' : new Date(seconds * 1000).toISOString());

/** One line per period: name, kind, range and runs, who set it, why, and its removal. */
function describePeriod(p: PeriodDoc): string {
  const range = p.from !== undefined ? `${iso(p.from)} .. ${iso(p.to)}` : '';
  const runs = p.runs.length ? `runs ${p.runs.join(',')}` : '';
  const removed = p.removed ? `  REMOVED ${p.removed.at} by ${p.removed.by}: ${p.removed.reason}` : '';
  return `${p.name}  ${p.kind}  ${[range, runs].filter(Boolean).join(' ')}  set ${p.at} by ${p.by}: ${p.reason}${removed}`;
}

function addCommand(state: CliState): Command {
  return new Command('add')
    .description('set a period apart (files whose time falls in it, or whose run is named); steps do not run on the files of an exclude period')
    .argument('<name>', 'the period\'s name (letters, digits, ., _, -)')
    .option('--from <time>', 'start, included (epoch seconds or ISO 8601)')
    .option('--to <time>', 'end, included (epoch seconds or ISO 8601)')
    .option('--run <run>', 'a run whose files are in the period whatever their time (repeatable)', collect)
    .requiredOption('--reason <text>', 'why (recorded with the period and on each file)')
    .option('--kind <kind>', 'exclude (not processed), include or note (recorded only)', 'exclude')
    .option('--json', 'print {"period","marked"}')
    .action(async (name: string, options: {from?: string; to?: string; run?: string[]; reason: string; kind: string; json?: boolean}, command: Command) => {
      const config = readConfig(globals(command), state.io);
      const from = options.from !== undefined ? parseTime(options.from, '--from') : undefined;
      const to = options.to !== undefined ? parseTime(options.to, '--to') : undefined;
      const {period, marked} = await withStore(config, (store) => addPeriod(store, {name, from, to, runs: options.run, reason: options.reason, kind: options.kind as PeriodKind}));
      if (options.json) state.io.out(JSON.stringify({period, marked}));
      else state.io.out(`period ${name} (${period.kind}): ${plural(marked.length, 'file')} marked`);
    });
}

function listCommand(state: CliState): Command {
  return new Command('list')
    .description('every period, removed ones included')
    .option('--json', 'print an array of period documents')
    .action(async (options: {json?: boolean}, command: Command) => {
      const config = readConfig(globals(command), state.io);
      const periods = await withStore(config, (store) => listPeriods(store));
      if (options.json) state.io.out(JSON.stringify(periods));
      else if (periods.length === 0) state.io.err('no period');
      else for (const p of periods) state.io.out(describePeriod(p));
    });
}

function showCommand(state: CliState): Command {
  return new Command('show')
    .description('a period and its files (whether it holds for each now)')
    .argument('<name>')
    .option('--json', 'print {"period","files"}')
    .action(async (name: string, options: {json?: boolean}, command: Command) => {
      const config = readConfig(globals(command), state.io);
      const shown = await withStore(config, (store) => showPeriod(store, name));
      if (options.json) return state.io.out(JSON.stringify(shown));
      state.io.out(describePeriod(shown.period));
      for (const f of shown.files) state.io.out(`${f.id}  run ${f.run ?? '-'}  ${iso(f.time ?? undefined)}  ${f.in_force ? 'in the period' : 'taken out'}`);
      state.io.err(plural(shown.files.length, 'file'));
    });
}

function removeCommand(state: CliState): Command {
  return new Command('remove')
    .description('take a period back: its files are unmarked (a remove mark added), the period records who removed it, when and why; nothing is deleted')
    .argument('<name>')
    .requiredOption('--reason <text>', 'why')
    .option('--json', 'print {"period","unmarked"}')
    .action(async (name: string, options: {reason: string; json?: boolean}, command: Command) => {
      const config = readConfig(globals(command), state.io);
      const {period, unmarked} = await withStore(config, (store) => removePeriod(store, name, options.reason));
      if (options.json) state.io.out(JSON.stringify({period, unmarked}));
      else state.io.out(`period ${name} removed: ${plural(unmarked.length, 'file')} unmarked`);
    });
}

/** `edw period add|list|show|remove`. */
export function periodCommand(state: CliState): Command {
  const period = new Command('period').description('periods set apart (a power cut): which files, who, when, why; exclude periods are not processed');
  for (const make of [addCommand, listCommand, showCommand, removeCommand]) period.addCommand(make(state));
  return period;
}
