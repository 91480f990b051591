import {join, resolve} from 'node:path';
import {Command} from 'commander';
import {compileDesignDocs, DESIGN_DOCS_DIR, pushDesignDocs} from '../design/index.js';
import {statusCounts} from '../inspect/index.js';
import {registerFiles} from '../register/index.js';
import {simulate} from '../simulate/index.js';
import {openStore} from '../store/index.js';
import {globals, type CliState} from './command.js';
import {prepareDemoFolder} from './demo-folder.js';
import {makeLogger, readConfig} from './context.js';
import {printStatus} from './inspect.js';
import {readConditions} from './register.js';
import {loadChosenSteps} from '../listen/index.js';
import {runSteps} from './listen.js';
import {numberOption} from './options.js';

export function demoCommand(state: CliState): Command {
  return new Command('demo')
    .description('simulate, register and run the whole chain on a fresh embedded database, then print the status')
    .option('--dir <dir>', 'folder for the demo database and files: new, empty, or an earlier demo\'s (whose files it replaces)', './data/demo')
    .option('--files <n>', 'data files to simulate', numberOption('--files', {min: 1}), 20)
    .action(async (options: {dir: string; files: number}, command: Command) => {
      const {io} = state;
      const global = globals(command);
      const base = readConfig(global, io);
      const dir = resolve(options.dir);
      // The demo's own folders replace the configured ones: a fresh embedded database and fresh output
      // areas. The database is a folder inside db/, so the view indexes PouchDB keeps beside it
      // (db/edw-mrview-...) are inside db/ too: every entry the demo makes is known before it starts.
      const outputs = (step: (typeof base.steps)[number]): Record<string, string> => ({
        ...(step.settings.target_dir ? {target_dir: 'sps'} : {}),
        ...(step.settings.output_dir ? {output_dir: step.name} : {}),
      });
      const config = {
        ...base,
        database: {...base.database, url: join(dir, 'db', 'edw'), user: undefined, password: undefined},
        steps: base.steps.map((step) => ({
          ...step,
          settings: {...step.settings, ...Object.fromEntries(Object.entries(outputs(step)).map(([key, name]) => [key, join(dir, name)]))},
        })),
      };
      const made = ['raw', 'db', ...base.steps.flatMap((step) => Object.values(outputs(step)))];
      // A bad step setting is refused before the folder is touched.
      const steps = await loadChosenSteps(config);
      await prepareDemoFolder(dir, made);
      const log = makeLogger({...config, log: {...config.log, level: global.debug ? 'debug' : 'warn'}}, global, io);
      io.err(`simulating ${options.files} data files in ${join(dir, 'raw')}`);
      const simulated = await simulate({outDir: join(dir, 'raw'), files: options.files, events: 50, seed: 42});
      const store = await openStore({url: config.database.url, create: true, share: true});
      try {
        await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
        const conditions = await readConditions(simulated.conditions);
        const report = await registerFiles({store, paths: simulated.files, conditions, settleMs: 0, runPattern: config.register.runPattern});
        io.err(`registered ${report.created.length} documents in ${store.location}; running ${config.steps.map((s) => s.name).join(' → ')}`);
        const {summary} = await runSteps(config, store, log, io, {steps, once: true});
        const result = await summary;
        io.err(`${result.completed} steps completed, ${result.failed.length} failed`);
        printStatus(io, await statusCounts(store, config.steps.map((s) => s.name)));
        io.out(`look closer: EDW_DB_URL=${config.database.url} edw show ${report.created[0] ?? ''}   (npx edw inside the clone)`);
        if (result.failed.length > 0) state.exitCode = 1;
      } finally {
        await store.close();
      }
    });
}
