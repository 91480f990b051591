/**
 * `--query-only`: `edw query` at 100,000 documents (issue 17): how long a selective filter (1% of the
 * documents) takes to answer on each backend. Documents fall in 100 runs (`run=r042` selects 1%) and
 * over 100 days (one day of `datecreated` is 1%). Timed: writing them; the first answer, which builds
 * the Mango index; then the answer computed again (`--fresh`: the index brought up to date, the
 * `_find`, each document's stage, the query document written) three times, median kept; and the
 * cached answer (a read of the query document and of the feed since it).
 */
import {pushQueryIndexes, queryFromArgs, runQuery, type QueryArgs} from '../../lib/query/index.js';
import type {BenchBackend} from './backends.js';
import {dataFileDoc} from './documents.js';
import {median, significant, timed, timedRuns} from './stats.js';

const DAY = 86_400;
const FIRST = Date.UTC(2025, 9, 1) / 1000;

export interface QueryFigures {
  /** The answer's count (1% of the documents). */
  count: number;
  first_ms: number;
  warm_ms: number;
  cached_ms: number;
  /** The index the database said it used. */
  index: string;
}

export interface QueryStudy {
  database: string;
  docs: number;
  insert_ms: number;
  /** `run=r042`, answered from the `run` index. */
  run: QueryFigures;
  /** `--from` and `--to` one day of 100, answered from the `datecreated` index. */
  day: QueryFigures;
}

async function measure(store: Parameters<typeof runQuery>[0], args: QueryArgs, expected: number): Promise<QueryFigures> {
  const form = queryFromArgs(args);
  const first = await timed(() => runQuery(store, form, {fresh: true, explain: true}));
  if (first.value.doc.count !== expected) throw new Error(`query study: ${JSON.stringify(args)} found ${first.value.doc.count}, expected ${expected}`);
  const warm = await timedRuns(3, () => runQuery(store, form, {fresh: true}));
  const cached = await timedRuns(3, async () => {
    if (!(await runQuery(store, form, {freshMs: 3_600_000})).cached) throw new Error('query study: the answer was not cached');
  });
  const index = first.value.plan?.index;
  return {
    count: first.value.doc.count, first_ms: significant(first.ms), warm_ms: significant(median(warm.ms)), cached_ms: significant(median(cached.ms)),
    index: index?.ddoc ? `${index.ddoc}/${index.name}` : 'none',
  };
}

export async function runQueryStudy(backend: BenchBackend, options: {docs: number; note: (line: string) => void}): Promise<QueryStudy> {
  const note = (what: string): void => options.note(`bench: ${backend.name}: query study: ${what}`);
  const url = backend.freshUrl('query');
  const store = await backend.open(url, {design: true});
  try {
    await pushQueryIndexes(store, []);
    note(`writing ${options.docs} documents`);
    const insert = await timed(async () => {
      for (let first = 0; first < options.docs; first += 1000) {
        const docs = Array.from({length: Math.min(1000, options.docs - first)}, (_, k) => {
          const i = first + k;
          return {...dataFileDoc(i, {prefix: 'query'}), run: `r${String(i % 100).padStart(3, '0')}`, datecreated: FIRST + Math.floor(i / (options.docs / 100)) * DAY + (i % 1000)};
        });
        const refused = (await store.bulkWrite(docs)).find((o) => !o.ok);
        if (refused) throw new Error(`query study: ${refused.id} was refused`);
      }
    });
    const expected = Math.ceil(options.docs / 100);
    note('run=r042 (first answer builds the run index)');
    const run = await measure(store, {filters: ['run=r042']}, Math.floor(options.docs / 100) + (options.docs % 100 > 42 ? 1 : 0));
    note('one day of 100 (first answer builds the datecreated index)');
    const day = await measure(store, {from: String(FIRST + 42 * DAY), to: String(FIRST + 43 * DAY - 1)}, expected);
    return {database: backend.database, docs: options.docs, insert_ms: significant(insert.ms), run, day};
  } finally {
    await store.destroy().catch(() => {});
    await store.close();
  }
}

export function formatQueryStudy(studies: Partial<Record<string, QueryStudy>>): string[] {
  const names = Object.keys(studies);
  const row = (label: string, value: (s: QueryStudy) => unknown): string => `| ${label} | ${names.map((n) => String(value(studies[n]!))).join(' | ')} |`;
  return [
    `| edw query at ${studies[names[0]!]?.docs ?? '?'} documents | ${names.join(' | ')} |`,
    `| --- | ${names.map(() => '---:').join(' | ')} |`,
    row('database', (s) => s.database),
    row('writing the documents, ms (bulk, 1000 a batch)', (s) => s.insert_ms),
    ...(['run', 'day'] as const).flatMap((k) => [
      row(`${k === 'run' ? 'run=r042' : 'one day of 100'}: documents found (1%)`, (s) => s[k].count),
      row(`${k === 'run' ? 'run=r042' : 'one day of 100'}: index`, (s) => s[k].index),
      row(`${k === 'run' ? 'run=r042' : 'one day of 100'}: first answer (builds the index), ms`, (s) => s[k].first_ms),
      row(`${k === 'run' ? 'run=r042' : 'one day of 100'}: answer computed again (--fresh), ms`, (s) => s[k].warm_ms),
      row(`${k === 'run' ? 'run=r042' : 'one day of 100'}: cached answer, ms`, (s) => s[k].cached_ms),
    ]),
  ];
}
