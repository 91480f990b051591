import {Command} from 'commander';
import {parseTime} from '../query/index.js';
import {listSelections, resolveTargets, saveSelection, showSelection} from '../provenance/index.js';
import {globals, type CliState} from './command.js';
import {readConfig, withStore} from './context.js';
import {targetOptions, targetsOf} from './targets.js';
import {plural} from './text.js';

function saveCommand(state: CliState): Command {
  const command = new Command('save')
    .description('save the documents chosen as the next version of a named selection (earlier versions are kept)')
    .argument('<name>', 'the selection\'s name (letters, digits, ., _, -)')
    .option('--reason <text>', 'why, recorded with the version')
    .option('--json', 'print the version saved');
  // The name is the first argument: the ids follow it.
  return targetOptions(command, 'in the selection').action(async (name: string, ids: string[], options: {reason?: string; json?: boolean; run?: string[]; query?: string; period?: string; selection?: string}, cmd: Command) => {
    const config = readConfig(globals(cmd), state.io);
    const version = await withStore(config, async (store) => {
      const targets = await resolveTargets(store, targetsOf(ids, options));
      return saveSelection(store, name, targets.ids, targets.asked, {reason: options.reason});
    });
    if (options.json) state.io.out(JSON.stringify(version));
    else state.io.out(`selection ${name} version ${version.version}: ${plural(version.ids.length, 'document')}`);
  });
}

function showCommand(state: CliState): Command {
  return new Command('show')
    .description('a selection as it is now, or as it was at a time')
    .argument('<name>')
    .option('--at <time>', 'the version current at this time (epoch seconds or ISO 8601)')
    .option('--json', 'print {"name","version","versions"}')
    .action(async (name: string, options: {at?: string; json?: boolean}, cmd: Command) => {
      const config = readConfig(globals(cmd), state.io);
      const at = options.at !== undefined ? parseTime(options.at, '--at') : undefined;
      const shown = await withStore(config, (store) => showSelection(store, name, at));
      if (options.json) return state.io.out(JSON.stringify(shown));
      const v = shown.version;
      state.io.out(`selection ${name} version ${v.version} of ${shown.versions}, saved ${v.at} by ${v.by}${v.reason ? `: ${v.reason}` : ''} (chosen by ${JSON.stringify(v.asked)})`);
      for (const id of v.ids) state.io.out(id);
    });
}

function listCommand(state: CliState): Command {
  return new Command('list')
    .description('every selection with its current version')
    .option('--json', 'print an array of {"name","current","versions"}')
    .action(async (options: {json?: boolean}, cmd: Command) => {
      const config = readConfig(globals(cmd), state.io);
      const all = await withStore(config, (store) => listSelections(store));
      if (options.json) return state.io.out(JSON.stringify(all));
      for (const s of all) state.io.out(`${s.name}  version ${s.current.version}  ${plural(s.current.ids.length, 'document')}  saved ${s.current.at} by ${s.current.by}${s.current.reason ? `: ${s.current.reason}` : ''}`);
      if (all.length === 0) state.io.err('no selection');
    });
}

/** `edw selection save|show|list`. */
export function selectionCommand(state: CliState): Command {
  const selection = new Command('selection').description('named, versioned selections of documents that reprocess, provenance and lineage can be run over');
  for (const make of [saveCommand, showCommand, listCommand]) selection.addCommand(make(state));
  return selection;
}
