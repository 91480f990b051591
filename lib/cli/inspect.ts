import {Command} from 'commander';
import {formatDuration} from '../config/index.js';
import {ConfigError, NotFoundError} from '../errors/index.js';
import {checkStage, DOC_STATES, INSIDE_STATES, failedAt, listDocuments, listListeners, nextStep, retryDocuments, statusCounts, type DocState, type Listed, type StatusCounts} from '../inspect/index.js';
import {isDataFile, periodsInForce, stageOf, supersedingIndex, type DataFileDoc, type ProcessEntry} from '../pipeline/index.js';
import {versionCounts} from '../provenance/index.js';
import {globals, type CliState} from './command.js';
import {configuredChain} from './targets.js';
import {numberOption} from './options.js';
import {plural} from './text.js';
import {readConfig, withStore, type Io} from './context.js';

/** The flag of `edw list` for a state, and the status table's column header: `--in-progress`, `in-progress`. */
function stateName(state: DocState): string {
  return state.replace('_', '-');
}

/** The status table's column headers, by state. */
const COLUMN_HEADERS: Record<DocState, string> = {waiting: 'waiting (for next step)', in_progress: 'in-progress', retrying: 'retrying', failed: 'failed', done: 'done', bad: 'bad', excluded: 'excluded'};

/**
 * The status table for people: one row per stage or step, one column per state; `edw list --stage ROW
 * --COLUMN` lists a cell, `edw list --stage ROW` a row. The columns of the states inside the step are
 * grouped under a line saying so.
 */
export function printStatus(io: Io, status: StatusCounts): void {
  const rows = Object.entries(status.rows);
  const width = Math.max(5, ...rows.map(([stage]) => stage.length));
  const headers = DOC_STATES.map((s) => COLUMN_HEADERS[s]);
  const line = (first: string, documents: string, values: string[]): string =>
    `${first.padEnd(width)}  ${documents.padStart(9)}  ${values.map((v, i) => v.padStart(headers[i]!.length)).join('  ')}`;
  // The group line spans the columns of the states inside the step, which follow one another.
  const inside = DOC_STATES.map((s, i) => (INSIDE_STATES.includes(s) ? i : -1)).filter((i) => i >= 0);
  const groupStart = width + 2 + 9 + 2 + headers.slice(0, inside[0]).reduce((n, h) => n + h.length + 2, 0);
  const groupWidth = inside.reduce((n, i) => n + headers[i]!.length, 0) + 2 * (inside.length - 1);
  const label = ' inside the step ';
  const dashes = groupWidth - 2 - label.length;
  io.out(`${' '.repeat(groupStart)}<${'-'.repeat(Math.floor(dashes / 2))}${label}${'-'.repeat(Math.ceil(dashes / 2))}>`);
  io.out(line('stage', 'documents', headers));
  for (const [stage, row] of rows) io.out(line(stage, String(DOC_STATES.reduce((n, s) => n + row[s], 0)), DOC_STATES.map((s) => String(row[s]))));
  io.out(line('total', String(status.total), DOC_STATES.map((s) => String(rows.reduce((n, [, row]) => n + row[s], 0)))));
  io.out(`conflicted: ${status.conflicted} (documents with replication conflicts now; a running listener merges them)`);
  io.out('(row S: waiting = completed S, waiting for the next step; in-progress, retrying, failed = inside step S; done = completed the last step)');
  io.out('(the documents of a cell: edw list --stage ROW --COLUMN; of a row: edw list --stage ROW)');
}

export function statusCommand(state: CliState): Command {
  return new Command('status')
    .description('data-file documents per row (new and each step) and state (waiting, in progress, retrying, failed, done, bad, excluded)')
    .option('--json', 'print {"total","stages","failed","in_progress","bad","rows","conflicted"} (with --versions, also "versions")')
    .option('--versions', 'also, per step, the documents whose latest completion is of the configured version (current) and those done by an older one')
    .action(async (options: {json?: boolean; versions?: boolean}, command: Command) => {
      const config = readConfig(globals(command), state.io);
      const chain = options.versions ? await configuredChain(config) : [];
      const [status, versions] = await withStore(config, async (store) => [
        await statusCounts(store, config.steps.map((s) => s.name)),
        options.versions ? await versionCounts(store, chain) : undefined,
      ] as const);
      if (options.json) return state.io.out(JSON.stringify(versions ? {...status, versions} : status));
      printStatus(state.io, status);
      for (const [step, v] of Object.entries(versions ?? {})) {
        const older = Object.entries(v.older).map(([version, n]) => `${n} by v${version || '-'}`).join(', ');
        state.io.out(`${step}: ${v.current} current (v${v.configured})${older ? `, older: ${older}` : ''}`);
      }
    });
}

/** One line of `edw list` for people: id, run, and the document's state with what it is waiting for or why. */
function describeListed({doc, state}: Listed, next: string | undefined): string {
  const edw = doc.edw ?? {};
  const at = (ms: number): string => new Date(ms).toISOString();
  const what =
    state === 'bad' ? `bad (status ${doc.status ?? '-'})`
      : state === 'excluded' ? `excluded (period ${periodsInForce(doc).filter((m) => m.kind === 'exclude').map((m) => `${m.period}: ${m.reason}`).join('; ')})`
      : state === 'failed' ? `failed at ${edw.failed!.step} after ${plural(edw.failed!.attempts, 'attempt')}: ${edw.failed!.error}`
        : state === 'in_progress' ? `in progress: ${edw.claim!.step} by ${edw.claim!.owner} until ${at(edw.claim!.expires)}`
          : state === 'retrying' ? `retrying ${edw.retry!.step} at ${at(edw.retry!.next)} (${plural(edw.retry!.attempts, 'attempt')} failed): ${edw.retry!.error}`
            : state === 'done' ? 'done'
              : `waiting for ${next ?? '-'}`;
  return `${doc._id}  run ${doc.run ?? '-'}  ${what}`;
}

/** An argument as a POSIX shell reads it back: quoted only when it must be. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

interface ListCliOptions {
  stage: string;
  waiting?: boolean;
  inProgress?: boolean;
  retrying?: boolean;
  failed?: boolean;
  done?: boolean;
  bad?: boolean;
  excluded?: boolean;
  run?: string;
  limit: number;
  after?: string;
  afterSource?: string;
  json?: boolean;
}

const STATE_OPTION: Record<DocState, keyof ListCliOptions> = {waiting: 'waiting', in_progress: 'inProgress', retrying: 'retrying', failed: 'failed', done: 'done', bad: 'bad', excluded: 'excluded'};

export function listCommand(state: CliState): Command {
  const command = new Command('list')
    .description('the documents of a row of edw status, with their state; one state with its option (the columns of edw status)')
    .requiredOption('--stage <stage>', 'new or a step name (the rows of edw status)')
    .option('--waiting', 'only documents that completed this step (or are new) and wait for the next')
    .option('--in-progress', 'only documents a listener is running this step on now')
    .option('--retrying', 'only documents this step failed on and will try again later')
    .option('--failed', 'only documents this step failed on for good')
    .option('--done', 'only documents that completed the last step')
    .option('--bad', 'only documents whose status is not "good"')
    .option('--excluded', 'only documents in a period of kind exclude (edw period add), not processed')
    .option('--run <run>', 'only this run')
    .option('--limit <n>', 'at most this many', numberOption('--limit', {min: 1}), 100)
    .option('--after <id>', 'start after this document (the last of the previous page)')
    .option('--after-source <place>', "with --after, where in the row that document was listed, as the 'more:' line gives it (the listing then goes on even if it has moved since)")
    .option('--json', 'print an array of documents');
  return command.action(async (options: ListCliOptions, command: Command) => {
    const {io} = state;
    const global = globals(command);
    const config = readConfig(global, io);
    const steps = config.steps.map((s) => s.name);
    const chosen = DOC_STATES.filter((s) => options[STATE_OPTION[s]]);
    if (chosen.length > 1) throw new ConfigError(`list takes one state at a time (got ${chosen.map((s) => `--${stateName(s)}`).join(' and ')})`);
    const next = nextStep(steps, options.stage);
    const end = await withStore(config, async (store) => {
      await checkStage(store, steps, options.stage);
      // JSON: one array, written a page at a time; a page's line ends with a comma until the next is known.
      // Small answers (one page) print as one line, as JSON.stringify of the array would.
      let held: string | undefined;
      let opened = false;
      const line = (text: string, end: string): void => {
        io.out(`${opened ? '' : '['}${text}${end}`);
        opened = true;
      };
      const ended = await listDocuments(store, {...options, steps, ...(chosen[0] ? {state: chosen[0]} : {})}, (page) => {
        if (!options.json) return page.forEach((listed) => io.out(describeListed(listed, next)));
        if (held !== undefined) line(held, ',');
        held = page.map(({doc}) => JSON.stringify(doc)).join(',');
      });
      if (options.json) line(held ?? '', ']');
      return ended;
    });
    if (end.next !== undefined) {
      const args = [...(global.config ? ['--config', global.config] : []), 'list', '--stage', options.stage, ...chosen.map((s) => `--${stateName(s)}`),
        ...(options.run !== undefined ? ['--run', options.run] : []), ...(options.limit !== 100 ? ['--limit', String(options.limit)] : []),
        ...(options.json ? ['--json'] : []), '--after', end.next,
        // A whole row is read from several places: say which, since the document may leave the row meanwhile.
        ...(chosen.length === 0 && end.nextSource !== undefined ? ['--after-source', end.nextSource] : [])];
      io.err(`more: edw ${args.map(shellWord).join(' ')}`);
    }
  });
}

/** One line of `edw show`'s timeline; a superseded re-execution says which entry is the completion of record. */
function describeEntry(entry: ProcessEntry, index: number, process: readonly ProcessEntry[]): string {
  const when = entry.finished ?? entry.started ?? '';
  const status = entry.superseded ? 'superseded' : entry.status ?? 'done (seed)';
  const what = entry.error ? `error: ${entry.error.message}` : entry.result?.outputs?.[0]?.path ?? entry.file ?? '';
  const epoch = typeof entry.epoch === 'number' && entry.epoch > 0 ? ` (epoch ${entry.epoch})` : '';
  let line = `${String(index + 1).padStart(3)}. ${entry.name.padEnd(20)} ${status.padEnd(11)} ${when}  ${entry.host ?? entry.hostname ?? ''} v${entry.version ?? '-'}${epoch} #${entry.attempt ?? 1}  ${what}`;
  if (entry.superseded) {
    const record = supersedingIndex(process, entry);
    const by = entry.superseded.by ?? {};
    line += `  (superseded by ${record === -1 ? `the completion finished ${by.finished ?? '?'} on ${by.host ?? '?'}` : `entry ${record + 1}`})`;
  }
  return line;
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
      d.process.forEach((entry, i) => io.out(describeEntry(entry, i, d.process)));
      if (d.edw?.failed) io.out(`failed for good at ${d.edw.failed.step} after ${plural(d.edw.failed.attempts, 'attempt')}: ${d.edw.failed.error} (edw retry ${d._id})`);
      else if (d.edw?.retry) io.out(`retry of ${d.edw.retry.step} due at ${new Date(d.edw.retry.next).toISOString()}`);
      if (d.edw?.claim) io.out(`claimed by ${d.edw.claim.owner} for ${d.edw.claim.step} until ${new Date(d.edw.claim.expires).toISOString()}`);
      for (const m of d.reprocess ?? []) io.out(`reprocess from ${m.step} at v${m.version} asked ${m.at} by ${m.by}: ${m.reason}`);
      for (const m of d.periods ?? []) io.out(`period ${m.period} (${m.kind}) ${m.action === 'add' ? 'added' : 'removed'} ${m.at} by ${m.by}: ${m.reason}`);
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
        if (step && targets.length === ids.length) io.out(`no document has failed at ${step.name}`);
        await retryDocuments(store, targets, ({id, verdict}) => {
          if (verdict === 'retried') io.out(`retry ${id}`);
          else if (verdict === 'not-failed') io.out(`${id} has not failed, left as it is`);
          else {
            io.err(`edw: no data-file document ${id}`);
            state.exitCode = 1;
          }
        });
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
