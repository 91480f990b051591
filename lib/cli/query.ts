import {Command} from 'commander';
import {ConfigError} from '../errors/index.js';
import {describeQuery, queryFromArgs, runQuery, showQuery, stagesOf, type QueryChanges, type QueryResult} from '../query/index.js';
import type {Store} from '../store/index.js';
import {globals, type CliState} from './command.js';
import {readConfig, withStore, type Io} from './context.js';
import {addTimeOptions, collect, numberOption, type TimeOptions} from './options.js';

interface QueryOptions extends TimeOptions {
  run: string[];
  stage: string[];
  failed?: boolean;
  done: string[];
  notDone: string[];
  json?: boolean;
  ids?: boolean;
  fresh?: boolean;
  explain?: boolean;
  show?: string;
  limit?: number;
  after?: string;
}

const age = (ms: number): string => (ms < 120_000 ? `${Math.round(ms / 1000)} s` : ms < 7_200_000 ? `${Math.round(ms / 60_000)} min` : `${(ms / 3_600_000).toFixed(1)} h`);

/** The page of ids asked for (`--after`, `--limit`), and the id to continue after when more follow. */
function page(ids: string[], after: string | undefined, limit: number | undefined): {ids: string[]; next?: string} {
  const start = after === undefined ? 0 : ids.findIndex((id) => id > after);
  const rest = start < 0 ? [] : ids.slice(start);
  if (limit === undefined || rest.length <= limit) return {ids: rest};
  const shown = rest.slice(0, limit);
  return {ids: shown, next: shown[shown.length - 1]!};
}

async function printTable(io: Io, store: Store, result: QueryResult, ids: string[]): Promise<void> {
  const stages = stagesOf(result.doc);
  const docs = await store.getMany(ids);
  const width = Math.max(8, ...ids.map((id) => id.length));
  io.out(`${'document'.padEnd(width)}  ${'run'.padEnd(12)}  ${'stage'.padEnd(18)}  datecreated`);
  docs.forEach((doc, i) => {
    const time = typeof doc?.datecreated === 'number' ? new Date(doc.datecreated * 1000).toISOString() : String(doc?.datecreated ?? '-');
    io.out(`${ids[i]!.padEnd(width)}  ${String(doc?.run ?? '-').padEnd(12)}  ${(stages.get(ids[i]!) ?? '-').padEnd(18)}  ${doc ? time : '(deleted since)'}`);
  });
}

function printChanges(io: Io, changes: QueryChanges, json: boolean): void {
  const {doc, added, removed, changedStage} = changes;
  const changed = added.length + removed.length + changedStage.length > 0;
  if (json) {
    io.out(JSON.stringify({
      id: doc._id.slice('query:'.length), query: doc.query, computed: doc.computed, count: doc.count, md5: doc.md5, count_now: doc.count + added.length - removed.length,
      md5_now: changes.md5Now, changed, added, removed, changed_stage: changedStage,
    }));
    return;
  }
  io.out(`query ${doc._id.slice('query:'.length)}: ${describeQuery(doc.query)}`);
  io.out(`computed ${doc.computed}: ${doc.count} documents (md5 ${doc.md5})`);
  if (!changed) return io.out('unchanged since: the database gives the same documents at the same stages');
  io.out(`changed since: ${added.length} added, ${removed.length} removed, ${changedStage.length} changed stage (md5 now ${changes.md5Now})`);
  for (const id of added) io.out(`+ ${id}`);
  for (const id of removed) io.out(`- ${id}`);
  for (const c of changedStage) io.out(`~ ${c.id}  ${c.from} -> ${c.to}`);
}

export function queryCommand(state: CliState): Command {
  const base = new Command('query')
    .description('the data-file documents matching filters (all must hold), cached under the query id (md5 of the query\'s canonical form)')
    .argument('[filter...]', "PATH OP VALUE, OP one of = != < <= > >= in contains ('facility=tunka', 'conditions.temperature<0.02', 'conditions.channel in (A,B)')")
    .option('--run <run>', 'run R, or a prefix R* (repeat for several runs)', collect, []);
  return addTimeOptions(base, {
    from: 'datecreated at or after (epoch seconds or ISO 8601; without a zone, UTC)', to: 'datecreated at or before', tz: 'zone of --season, --month, --week (UTC, +02:00, Europe/Paris)',
  })
    .option('--stage <stage>', 'at this stage (new or a step; repeat for several)', collect, [])
    .option('--failed', 'failed for good at some step')
    .option('--done <step>', 'completed STEP (or STEP@VERSION); repeat for several', collect, [])
    .option('--not-done <step>', 'did not complete STEP (or STEP@VERSION)', collect, [])
    .option('--json', 'print {"id","query","count","ids","md5","cached","computed","seq",...}')
    .option('--ids', 'print the matching document ids, one a line')
    .option('--fresh', 'compute the answer again, whatever the cache holds')
    .option('--explain', 'say which index answers the query')
    .option('--show <qid>', 're-read a past query and say what changed since (documents added, removed, changed stage)')
    .option('--limit <n>', 'at most N ids (default 100 in the table)', numberOption('--limit', {min: 1}))
    .option('--after <id>', 'start after this document id (the next page of the same answer)')
    .action(async (filters: string[], options: QueryOptions, command: Command) => {
      const {io} = state;
      const config = readConfig(globals(command), io);
      if (options.show) {
        if (filters.length) throw new ConfigError('--show QID takes no filters: the query is the one saved under QID');
        const qid = options.show;
        await withStore(config, async (store) => printChanges(io, await showQuery(store, qid), !!options.json));
        return;
      }
      const form = queryFromArgs({...options, filters});
      await withStore(config, async (store) => {
        const result = await runQuery(store, form, {freshMs: config.query.freshMs, fresh: options.fresh, reuse: options.after !== undefined, explain: options.explain});
        if (result.warning) io.err(`warning: no index serves this query, every document was read (${result.warning}); index a field it filters on with [query] indexes and edw push-design`);
        if (result.plan) {
          const index = result.plan.index;
          if (index) io.err(index.ddoc ? `index: _design/${index.ddoc} ${index.name} (fields ${index.fields.join(', ')})` : 'index: none: every document is read');
          if (result.plan.stageView) io.err('index: view edw/stage (the stages asked for)');
        }
        const {doc} = result;
        const limit = options.limit ?? (options.json || options.ids ? undefined : 100);
        const shown = page(doc.ids, options.after, limit);
        const more = shown.next ? `more: the same command with --after ${shown.next} (pages of one cached answer)` : '';
        if (options.json) {
          io.out(JSON.stringify({
            id: result.id, query: doc.query, count: doc.count, ids: shown.ids, md5: doc.md5, cached: result.cached, computed: doc.computed, seq: doc.seq,
            age_seconds: Math.round(result.ageMs / 1000), ...(shown.next ? {next_after: shown.next} : {}), ...(result.recomputed ? {recomputed: result.recomputed} : {}),
            ...(result.warning ? {warning: result.warning} : {}), ...(result.plan ? {plan: result.plan} : {}),
          }));
        } else if (options.ids) {
          for (const id of shown.ids) io.out(id);
        } else {
          io.out(`query ${result.id}: ${describeQuery(doc.query)}`);
          io.out(`${doc.count} documents, md5 ${doc.md5}, computed ${doc.computed}${result.cached ? ` (cached, ${age(result.ageMs)} old; --fresh to recompute)` : result.recomputed ? ` (recomputed: ${result.recomputed})` : ''}`);
          if (shown.ids.length) await printTable(io, store, result, shown.ids);
        }
        if (more) io.err(more);
      });
    });
}
