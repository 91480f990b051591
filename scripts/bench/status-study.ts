/**
 * `--status-only`: how long three ways of counting documents per stage take at 100,000 documents, to
 * choose how `edw status` gets under 1 s: (a) statusCounts as it is (a group_level=2 reduce of the
 * stage view, a row read per stage holding failed documents, and the claims view), (b) one
 * `reduce=false` read of the whole stage view, rows only, counted here, (c) `_changes` with documents
 * from 0 in pages of 1000, stages computed here; and (d) what counts kept incrementally from the feed
 * would pay per call: `_changes` with documents since a position saved 1,000 changes before the end.
 * Documents are spread over the four stages, with one in
 * a thousand failed and one in a thousand claimed. Each view is built before any timing (its build
 * time is reported apart); each way is timed three times and the median kept.
 */
import {DESIGN} from '../../lib/design/index.js';
import type {ProcessEntry} from '../../lib/pipeline/index.js';
import type {BenchBackend} from './backends.js';
import {dataFileDoc, doneEntry} from './documents.js';
import {NOOP_STEPS} from './noop-chain.js';
import {median, significant, timed, timedRuns} from './stats.js';
import {countsFromChanges, countsFromViewRows, timeStatus} from './status.js';

export interface StatusStudy {
  database: string;
  docs: number;
  insert_ms: number;
  stage_view_build_ms: number;
  claims_view_build_ms: number;
  /** (a) */
  status_ms: number;
  /** (b) */
  view_rows_ms: number;
  /** (c) */
  changes_with_docs_ms: number;
  /** (d) the last 1,000 changes, with documents, from a saved position. */
  changes_tail_1000_ms: number;
  /** Whether (b) and (c) found the same documents per stage as (a). */
  same_counts: boolean;
}

/** The i-th document of the study: at stage new, noop_1, noop_2 or noop_3 in turn; a few failed or claimed. */
function studyDoc(i: number) {
  const stage = i % 4;
  const at = new Date(Date.UTC(2026, 10, 24));
  const entries: ProcessEntry[] = NOOP_STEPS.slice(0, stage).map((name) => doneEntry(name, at));
  const doc = dataFileDoc(i, {prefix: 'status', entries});
  if (stage < 3 && i % 1000 === 1) {
    doc.edw = {token: 1, failed: {step: NOOP_STEPS[stage]!, version: '1', attempts: 3, error: 'bench', at: at.toISOString()}};
  } else if (stage < 3 && i % 1000 === 2) {
    doc.edw = {token: 1, claim: {step: NOOP_STEPS[stage]!, version: '1', owner: 'bench', host: 'bench', pid: 1, token: 1, expires: Date.now() + 3_600_000, since: at.toISOString()}};
  }
  return doc;
}

export async function runStatusStudy(backend: BenchBackend, options: {docs: number; note: (line: string) => void}): Promise<StatusStudy> {
  const note = (what: string): void => options.note(`bench: ${backend.name}: status study: ${what}`);
  const url = backend.freshUrl('status');
  const store = await backend.open(url, {design: true});
  try {
    note(`writing ${options.docs} documents`);
    let tailSince = '0';
    const insert = await timed(async () => {
      for (let first = 0; first < options.docs; first += 1000) {
        if (first + 1000 >= options.docs) tailSince = (await store.info()).updateSeq;
        const docs = Array.from({length: Math.min(1000, options.docs - first)}, (_, k) => studyDoc(first + k));
        const refused = (await store.bulkWrite(docs)).find((o) => !o.ok);
        if (refused) throw new Error(`status study: ${refused.id} was refused`);
      }
    });
    note('building the stage view');
    const stageBuild = await timed(() => store.query({design: DESIGN, view: 'stage', reduce: false, limit: 1}));
    note('building the claims view');
    const claimsBuild = await timed(() => store.query({design: DESIGN, view: 'claims', limit: 1}));
    note('(a) statusCounts');
    const status = await timeStatus(store, 3);
    note('(b) reduce=false rows of the whole stage view');
    const {ms: rows, value: fromRows} = await timedRuns(3, () => countsFromViewRows(store));
    note('(c) _changes with documents from 0');
    const {ms: changes, value: fromChanges} = await timedRuns(3, () => countsFromChanges(store));
    note('(d) the last 1000 changes with documents');
    const {ms: tail} = await timedRuns(3, async () => {
      const page = await store.changes({since: tailSince, limit: 1000, includeDocs: true});
      if (page.results.length !== Math.min(1000, options.docs)) throw new Error(`status study: expected the last 1000 changes, got ${page.results.length}`);
    });
    const expected = Object.fromEntries(Object.entries(status.counts.stages).filter(([, n]) => n > 0));
    const same = (counts: Record<string, number>): boolean => JSON.stringify(Object.entries(counts).sort()) === JSON.stringify(Object.entries(expected).sort());
    return {
      database: backend.database, docs: options.docs, insert_ms: significant(insert.ms), stage_view_build_ms: significant(stageBuild.ms),
      claims_view_build_ms: significant(claimsBuild.ms), status_ms: significant(status.warmMs),
      view_rows_ms: significant(median(rows)), changes_with_docs_ms: significant(median(changes)), changes_tail_1000_ms: significant(median(tail)),
      same_counts: same(fromRows) && same(fromChanges),
    };
  } finally {
    await store.destroy().catch(() => {});
    await store.close();
  }
}

export function formatStatusStudy(studies: Partial<Record<string, StatusStudy>>): string[] {
  const names = Object.keys(studies);
  const row = (label: string, value: (s: StatusStudy) => unknown): string => `| ${label} | ${names.map((n) => String(value(studies[n]!))).join(' | ')} |`;
  return [
    `| at ${studies[names[0]!]?.docs ?? '?'} documents | ${names.join(' | ')} |`,
    `| --- | ${names.map(() => '---:').join(' | ')} |`,
    row('database', (s) => s.database),
    row('writing the documents, ms (bulk, 1000 a batch)', (s) => s.insert_ms),
    row('stage view build, ms (first query)', (s) => s.stage_view_build_ms),
    row('claims view build, ms (first query)', (s) => s.claims_view_build_ms),
    row('(a) edw status as it is, ms', (s) => s.status_ms),
    row('(b) reduce=false read of the stage view, ms', (s) => s.view_rows_ms),
    row('(c) _changes with docs from 0, ms', (s) => s.changes_with_docs_ms),
    row('(d) the last 1000 changes with docs, from a saved position, ms', (s) => s.changes_tail_1000_ms),
    row('(b) and (c) give the same counts as (a)', (s) => s.same_counts),
  ];
}
