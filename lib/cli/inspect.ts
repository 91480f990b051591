import {Command} from 'commander';
import {formatDuration, type Config} from '../config/index.js';
import {ConfigError, NotFoundError} from '../errors/index.js';
import {eachDetection, failedAt, listDocuments, listListeners, parseTime, retryDocument, statusCounts, type StatusCounts} from '../inspect/index.js';
import {isDataFile, stageOf, type DataFileDoc, type ProcessEntry} from '../pipeline/index.js';
import {globals, type CliState} from './command.js';
import {numberOption} from './options.js';
import {plural} from './text.js';
import {readConfig, withStore, type Io} from './context.js';

function stages(config: Config): string[] {
  return ['new', ...config.steps.map((s) => s.name)];
}

/** The status table for people. */
export function printStatus(io: Io, status: StatusCounts): void {
  const width = Math.max(12, ...Object.keys(status.stages).map((s) => s.length));
  io.out(`${'stage / step'.padEnd(width)}  documents  failed at step  in progress`);
  for (const [stage, n] of Object.entries(status.stages)) {
    io.out(`${stage.padEnd(width)}  ${String(n).padStart(9)}  ${String(status.failed[stage] ?? '').padStart(14)}  ${String(status.in_progress[stage] ?? '').padStart(11)}`);
  }
  io.out(`${'total'.padEnd(width)}  ${String(status.total).padStart(9)}  (bad, not processed: ${status.bad})`);
}

export function statusCommand(state: CliState): Command {
  return new Command('status')
    .description('data-file documents per stage, failed and in progress')
    .option('--json', 'print {"total","stages","failed","in_progress","bad"}')
    .action(async (options: {json?: boolean}, command: Command) => {
      const config = readConfig(globals(command), state.io);
      const status = await withStore(config, (store) => statusCounts(store, config.steps.map((s) => s.name)));
      if (options.json) state.io.out(JSON.stringify(status));
      else printStatus(state.io, status);
    });
}

export function listCommand(state: CliState): Command {
  return new Command('list')
    .description('documents at a stage')
    .requiredOption('--stage <stage>', 'new or a step name')
    .option('--failed', 'only documents failed for good at the step after this stage')
    .option('--run <run>', 'only this run')
    .option('--limit <n>', 'at most this many', numberOption('--limit', {min: 1}), 100)
    .option('--after <id>', 'start after this document (the last of the previous page)')
    .option('--json', 'print an array of documents')
    .action(async (options: {stage: string; failed?: boolean; run?: string; limit: number; after?: string; json?: boolean}, command: Command) => {
      const config = readConfig(globals(command), state.io);
      if (!stages(config).includes(options.stage)) throw new ConfigError(`unknown stage ${options.stage} (stages: ${stages(config).join(', ')})`);
      const docs = await withStore(config, (store) => listDocuments(store, options));
      if (options.json) {
        state.io.out(JSON.stringify(docs));
        return;
      }
      for (const doc of docs) {
        const flag = doc.status !== 'good' ? `bad (${doc.status})` : doc.edw?.failed ? `failed at ${doc.edw.failed.step}: ${doc.edw.failed.error}` : doc.edw?.retry ? `retry ${doc.edw.retry.attempts + 1} at ${new Date(doc.edw.retry.next).toISOString()}` : doc.edw?.claim ? `claimed by ${doc.edw.claim.owner}` : 'waiting';
        state.io.out(`${doc._id}  run ${doc.run ?? '-'}  ${flag}`);
      }
    });
}

function describeEntry(entry: ProcessEntry, index: number): string {
  const when = entry.finished ?? entry.started ?? '';
  const status = entry.status ?? 'done (seed)';
  const what = entry.error ? `error: ${entry.error.message}` : entry.result?.outputs?.[0]?.path ?? entry.file ?? '';
  return `${String(index + 1).padStart(3)}. ${entry.name.padEnd(20)} ${status.padEnd(11)} ${when}  ${entry.host ?? entry.hostname ?? ''} v${entry.version ?? '-'} #${entry.attempt ?? 1}  ${what}`;
}

export function showCommand(state: CliState): Command {
  return new Command('show')
    .description('the process timeline of one document')
    .argument('<id>')
    .option('--json', 'print the document')
    .action(async (id: string, options: {json?: boolean}, command: Command) => {
      const config = readConfig(globals(command), state.io);
      const doc = await withStore(config, (store) => store.get(id));
      if (!doc) throw new NotFoundError(`no document ${id}`);
      if (options.json) {
        state.io.out(JSON.stringify(doc, null, 2));
        return;
      }
      const {io} = state;
      if (!isDataFile(doc)) {
        io.out(JSON.stringify(doc, null, 2));
        return;
      }
      const d = doc as DataFileDoc;
      io.out(`${d._id}  run ${d.run ?? '-'}  status ${d.status ?? '-'}  stage ${stageOf(d)}  md5 ${d.md5sum ?? '-'}  ${d.original_file ?? ''}`);
      d.process.forEach((entry, i) => io.out(describeEntry(entry, i)));
      if (d.edw?.failed) io.out(`failed for good at ${d.edw.failed.step} after ${d.edw.failed.attempts} attempts: ${d.edw.failed.error} (edw retry ${d._id})`);
      else if (d.edw?.retry) io.out(`retry of ${d.edw.retry.step} due at ${new Date(d.edw.retry.next).toISOString()}`);
      if (d.edw?.claim) io.out(`claimed by ${d.edw.claim.owner} for ${d.edw.claim.step} until ${new Date(d.edw.claim.expires).toISOString()}`);
      for (const prev of d.previous ?? []) io.out(`replaced ${String(prev.replaced)}: md5 was ${String(prev.md5sum)}, ${(prev.process as unknown[] | undefined)?.length ?? 0} entries kept`);
    });
}

export function retryCommand(state: CliState): Command {
  return new Command('retry')
    .description('make documents that failed for good runnable again (a listener runs them)')
    .argument('[id...]', 'document ids')
    .option('--step <step>', 'every document failed at this step')
    .action(async (ids: string[], options: {step?: string}, command: Command) => {
      const {io} = state;
      const config = readConfig(globals(command), io);
      if (!ids.length && !options.step) throw new ConfigError('retry needs document ids or --step STEP');
      const step = options.step ? config.steps.find((s) => s.name === options.step) : undefined;
      if (options.step && !step) throw new ConfigError(`unknown step ${options.step} (steps: ${config.steps.map((s) => s.name).join(', ')})`);
      await withStore(config, async (store) => {
        const targets = [...ids, ...(step ? await failedAt(store, step.name, step.after) : [])];
        if (step && targets.length === ids.length) io.err(`no document has failed at ${step.name}`);
        for (const id of targets) {
          try {
            const verdict = await retryDocument(store, id);
            io.out(verdict === 'retried' ? `retry ${id}` : `${id} has not failed, left as it is`);
          } catch (error) {
            if (!(error instanceof NotFoundError)) throw error;
            io.err(`error: ${error.message}`);
            state.exitCode = 1;
          }
        }
      });
    });
}

export function detectionsCommand(state: CliState): Command {
  return new Command('detections')
    .description('detection documents between two times (epoch seconds or ISO 8601), in time order')
    .requiredOption('--from <time>', 'start of the range, included')
    .requiredOption('--to <time>', 'end of the range, included')
    .option('--json', 'print an array of documents, one per line')
    .action(async (options: {from: string; to: string; json?: boolean}, command: Command) => {
      const {io} = state;
      const config = readConfig(globals(command), io);
      const from = parseTime(options.from, '--from');
      const to = parseTime(options.to, '--to');
      if (to < from) throw new ConfigError(`--to ${options.to} is before --from ${options.from}`);
      // Printed as read, a page at a time: any number of detections in the memory of one page.
      await withStore(config, async (store) => {
        let count = 0;
        let held: string | undefined;
        if (options.json) io.out('[');
        for await (const d of eachDetection(store, from, to)) {
          count++;
          if (!options.json) {
            io.out(`${new Date(Number(d.time) * 1000).toISOString()}  ${String(d.channel).padEnd(12)} amplitude ${Number(d.amplitude).toFixed(1).padStart(8)}  ${String(d.source)}`);
            continue;
          }
          // One document a line; each but the last followed by a comma, so one is held back.
          if (held !== undefined) io.out(`${held},`);
          held = JSON.stringify(d);
        }
        if (options.json) {
          if (held !== undefined) io.out(held);
          io.out(']');
        } else {
          io.err(plural(count, 'detection'));
        }
      });
    });
}

export function listenersCommand(state: CliState): Command {
  return new Command('listeners')
    .description('every listener process that wrote a heartbeat, alive, stale or stopped (forgotten after [listen] forget_after)')
    .option('--json', 'print an array of heartbeat documents, each with its state')
    .action(async (options: {json?: boolean}, command: Command) => {
      const {io} = state;
      const config = readConfig(globals(command), io);
      const {listeners, forgotten} = await withStore(config, (store) => listListeners(store, {forgetAfterMs: config.listen.forgetAfterMs}));
      if (forgotten > 0) io.err(`forgot ${plural(forgotten, 'listener')} stopped or silent for more than ${formatDuration(config.listen.forgetAfterMs)}`);
      if (options.json) {
        io.out(JSON.stringify(listeners));
        return;
      }
      for (const r of listeners) {
        const steps = r.listeners.map((l) => `${l.step}${l.running ? ` (${l.running} running)` : ''}${l.reachable ? '' : ' [database unreachable]'}`).join(', ');
        io.out(`${r.state.padEnd(7)}  ${r.owner}  pid ${r.pid}  last beat ${r.beat}  done ${r.completed}  failed ${r.failed}  ${steps}`);
      }
      if (listeners.length === 0 && forgotten === 0) io.err('no listener has written a heartbeat to this database');
    });
}
