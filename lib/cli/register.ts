import {readFile} from 'node:fs/promises';
import {Command} from 'commander';
import {ConfigError} from '../errors/index.js';
import {registerFiles} from '../register/index.js';
import {globals, type CliState} from './command.js';
import {readConfig, withStore} from './context.js';
import {progressLine, rate} from './progress.js';

/** Read `--conditions FILE.json`: one JSON object, or a clear error naming the file. */
export async function readConditions(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`--conditions ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`--conditions ${path}: not valid JSON (${(error as Error).message})`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`--conditions ${path}: expected one JSON object`);
  return value as Record<string, unknown>;
}

export function registerCommand(state: CliState): Command {
  return new Command('register')
    .description('create one document per data file (directories: their data files that have settled)')
    .argument('<path...>', 'data files and directories')
    .option('--conditions <file>', 'JSON object recorded as conditions on every document')
    .option('--replace', 'register again a file whose md5 changed (old md5 and history kept in the document)')
    .action(async (paths: string[], options: {conditions?: string; replace?: boolean}, command: Command) => {
      const {io} = state;
      const config = readConfig(globals(command), io);
      const conditions = options.conditions ? await readConditions(options.conditions) : undefined;
      const started = Date.now();
      const progress = progressLine(io);
      const report = await withStore(config, (store) => registerFiles({
        store, paths, conditions, replace: options.replace, glob: config.register.glob, settleMs: config.register.settleMs,
        runPattern: config.register.runPattern, batchSize: config.register.batchSize,
        onProgress: (done, total) => progress.update(`registering: ${done}/${total} files, ${rate(done, started)}`),
      }));
      progress.done();
      for (const id of report.created) io.out(`registered ${id}`);
      for (const id of report.replaced) io.out(`replaced ${id}`);
      for (const id of report.unchanged) io.out(`already registered ${id} (same md5), nothing changed`);
      for (const file of report.settling) io.err(`skipped ${file}: modified less than ${config.register.settleMs / 1000} s ago`);
      for (const m of report.missing) io.err(`error: ${m.path} ${m.reason}`);
      for (const r of report.refused) io.err(`error: ${r.path}: ${r.reason}`);
      io.err(`${report.created.length} registered, ${report.replaced.length} replaced, ${report.unchanged.length} already registered, ${report.refused.length + report.missing.length} failed`);
      if (report.refused.length + report.missing.length > 0) state.exitCode = 1;
    });
}
