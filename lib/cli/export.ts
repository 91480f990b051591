import {Command} from 'commander';
import {ConfigError} from '../errors/index.js';
import {checkpointPath, runExport, type ExportFormat, type ExportKind} from '../export/index.js';
import {globals, type CliState} from './command.js';
import {readConfig, withStore} from './context.js';
import {progressLine} from './progress.js';
import {plural} from './text.js';

const KINDS: ExportKind[] = ['documents', 'detections'];
const FORMATS: ExportFormat[] = ['ndjson', 'csv'];

export function exportCommand(state: CliState): Command {
  return new Command('export')
    .description('append to FILE the documents or detections that are new or changed since the last export to it (checkpoint beside it)')
    .argument('<what>', 'documents (data-file documents) or detections')
    .requiredOption('--format <format>', 'ndjson or csv')
    .requiredOption('--out <file>', 'the output file')
    .option('--query <qid>', 'only the documents of this query\'s answer (for detections: those of its documents)')
    .action(async (what: string, options: {format: string; out: string; query?: string}, command: Command) => {
      const {io} = state;
      const config = readConfig(globals(command), io);
      if (!KINDS.includes(what as ExportKind)) throw new ConfigError(`export ${what}: expected documents or detections`);
      if (!FORMATS.includes(options.format as ExportFormat)) throw new ConfigError(`--format ${options.format}: expected ndjson or csv`);
      const progress = progressLine(io);
      const report = await withStore(config, (store) => runExport(store, {
        kind: what as ExportKind, format: options.format as ExportFormat, out: options.out, ...(options.query ? {query: options.query} : {}),
        onProgress: (written) => progress.update(`export: ${plural(written, 'record')} written`),
      }));
      progress.done();
      io.out(`${options.out}: ${plural(report.written, 'record')} appended, ${report.total} in all${report.resumed ? ` (from ${checkpointPath(options.out)})` : ''}`);
    });
}
