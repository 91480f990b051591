import {readFile} from 'node:fs/promises';
import {basename, dirname} from 'node:path';
import {Command} from 'commander';
import {ConfigError} from '../errors/index.js';
import {registerFiles, type RegisterReport, type SkipReason} from '../register/index.js';
import {globals, type CliState} from './command.js';
import {readConfig, withStore} from './context.js';
import {progressLine, rate} from './progress.js';
import {plural} from './text.js';

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

/** Names shown in a skipped line before the rest is only counted. */
const NAMES_SHOWN = 5;

/** One line per directory and reason: how many entries were left out, why, and the first few names. */
export function skippedLines(report: Pick<RegisterReport, 'skipped'>, glob: string, settleMs: number): string[] {
  const why: Record<SkipReason, (n: number) => string> = {
    'settling': (n) => `${plural(n, 'file')} modified less than ${settleMs / 1000} s ago (may still be written; run register again later)`,
    'not-matching': (n) => `${plural(n, 'entry', 'entries')} not matching ${glob}`,
    'not-regular': (n) => `${plural(n, 'entry', 'entries')} that ${n === 1 ? 'is' : 'are'} not a regular file`,
    'vanished': (n) => `${plural(n, 'file')} removed while registering`,
  };
  const groups = new Map<string, {dir: string; reason: SkipReason; names: string[]}>();
  for (const {path, reason} of report.skipped) {
    const key = `${dirname(path)}\0${reason}`;
    const group = groups.get(key) ?? {dir: dirname(path), reason, names: []};
    group.names.push(basename(path));
    groups.set(key, group);
  }
  return [...groups.values()].map(({dir, reason, names}) => {
    const more = names.length > NAMES_SHOWN ? `, and ${names.length - NAMES_SHOWN} more` : '';
    return `skipped in ${dir}: ${why[reason](names.length)}: ${names.slice(0, NAMES_SHOWN).join(', ')}${more}`;
  });
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
      for (const line of skippedLines(report, config.register.glob, config.register.settleMs)) io.err(line);
      for (const dir of report.empty) io.err(`no files matching ${config.register.glob} in ${dir}`);
      for (const m of report.missing) io.err(`edw: ${m.path} ${m.reason}`);
      for (const r of report.refused) io.err(`edw: ${r.path}: ${r.reason}`);
      const failed = report.refused.length + report.missing.length;
      io.err(`${plural(report.created.length, 'file')} registered, ${report.replaced.length} replaced, ${report.unchanged.length} already registered, ${report.skipped.length} skipped, ${failed} failed`);
      if (report.refused.length + report.missing.length > 0) state.exitCode = 1;
    });
}
