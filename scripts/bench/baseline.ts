/**
 * The seed-style baseline, with the fixed method: one listener for the first step that, for
 * each change on the feed (read in pages, without documents), makes one view query for the step's
 * stage (`[new, ready]`, limit 1), then reads that one document and writes it back with the step's
 * entry appended: one request at a time, no claims. The documents are written beforehand (all at
 * stage `new`) and the stage view is built before the clock starts, as for edw's chain.
 */
import {DESIGN} from '../../lib/design/index.js';
import type {DataFileDoc} from '../../lib/pipeline/index.js';
import type {Store} from '../../lib/store/index.js';
import {CountingStore, type CallCount} from './counting-store.js';
import {dataFileDoc, doneEntry} from './documents.js';
import {NOOP_STEPS} from './noop-chain.js';
import {now, perSecond} from './stats.js';

export interface BaselineFigures {
  baseline_steps_per_s: number;
  baseline_docs: number;
  baseline_seconds: number;
  /** Store calls per step done, by kind. */
  baseline_calls_per_step: Record<string, {calls: number; ms: number}>;
}

export async function measureBaseline(inner: Store, docs = 2000): Promise<BaselineFigures> {
  for (let first = 0; first < docs; first += 1000) {
    const batch = Array.from({length: Math.min(1000, docs - first)}, (_, k) => dataFileDoc(first + k, {prefix: 'baseline'}));
    await inner.bulkWrite(batch);
  }
  const step = NOOP_STEPS[0];
  const range = {design: DESIGN, view: 'stage', startkey: ['new', 'ready'], endkey: ['new', 'ready', {}], reduce: false};
  await inner.query({...range, limit: 1}); // build the view before the clock starts
  const store = new CountingStore(inner);
  let done = 0;
  let since = '0';
  const start = now();
  feed: for (;;) {
    const page = await store.changes({since, limit: 1000, waitMs: 1000});
    for (const _change of page.results) {
      const {rows} = await store.query({...range, limit: 1});
      const id = rows[0]?.id;
      if (!id) continue;
      const doc = (await store.get(id)) as DataFileDoc | null;
      if (!doc) continue;
      await store.put({...doc, process: [...doc.process, doneEntry(step)]});
      if (++done >= docs) break feed;
    }
    if (page.results.length === 0) throw new Error(`baseline: the feed ran dry with ${done} of ${docs} documents done`);
    since = page.lastSeq;
  }
  const ms = now() - start;
  const perStep = (count: CallCount): {calls: number; ms: number} => ({calls: count.calls / done, ms: count.ms / done});
  return {
    baseline_steps_per_s: perSecond(done, ms), baseline_docs: done, baseline_seconds: ms / 1000,
    baseline_calls_per_step: Object.fromEntries(Object.entries(store.snapshot()).map(([kind, count]) => [kind, perStep(count)])),
  };
}
