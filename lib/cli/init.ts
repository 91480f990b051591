import {Command} from 'commander';
import {compileDesignDocs, DESIGN_DOCS_DIR, pushDesignDocs, type DesignChange} from '../design/index.js';
import {pushQueryIndexes} from '../query/index.js';
import {globals, type CliState} from './command.js';
import {readConfig, withStore, type Io} from './context.js';

export function printDesignChanges(io: Io, changes: DesignChange[], dryRun: boolean): void {
  for (const change of changes) {
    const verb = change.action === 'unchanged' ? 'unchanged' : dryRun ? `would be ${change.action}` : change.action;
    const parts = [
      ...change.added.map((f) => `+${f}`), ...change.changed.map((f) => `~${f}`), ...change.removed.map((f) => `-${f}`),
    ];
    io.out(`${change.id}: ${verb}${parts.length && change.action !== 'created' ? ` (${parts.join(', ')})` : ''}`);
  }
}

export function initCommand(state: CliState): Command {
  return new Command('init')
    .description('create the database when missing and push the design documents')
    .action(async (_options: object, command: Command) => {
      const config = readConfig(globals(command), state.io);
      await withStore(config, async (store) => {
        const created = await store.create();
        state.io.out(`${created ? 'created' : 'found'} database ${store.location}`);
        printDesignChanges(state.io, await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR)), false);
        printDesignChanges(state.io, [await pushQueryIndexes(store, config.query.indexes)], false);
      }, {create: true});
    });
}

export function pushDesignCommand(state: CliState): Command {
  return new Command('push-design')
    .description('upload the design documents in design-docs/ that differ from the database copy')
    .option('--dry-run', 'print what would change, write nothing')
    .action(async (options: {dryRun?: boolean}, command: Command) => {
      const config = readConfig(globals(command), state.io);
      const docs = await compileDesignDocs(DESIGN_DOCS_DIR);
      await withStore(config, async (store) => {
        printDesignChanges(state.io, await pushDesignDocs(store, docs, {dryRun: options.dryRun}), !!options.dryRun);
        printDesignChanges(state.io, [await pushQueryIndexes(store, config.query.indexes, {dryRun: options.dryRun})], !!options.dryRun);
      });
    });
}
