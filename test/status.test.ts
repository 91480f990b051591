import {setTimeout as delay} from 'node:timers/promises';
import test, {type ExecutionContext} from 'ava';
import {compileDesignDocs, DESIGN_DOCS_DIR, pushDesignDocs} from '../lib/design/index.js';
import {statusFromCounts, statusFromView, type StatusCounts} from '../lib/inspect/index.js';
import {advanceCounts, COUNTS_ID, countsFromView, refreshCounts, StageCounts} from '../lib/counts/index.js';
import {isDataFile, type DataFileDoc} from '../lib/pipeline/index.js';
import type {Doc, Store} from '../lib/store/index.js';
import {forEachBackend} from './helpers/backends.js';
import {silentLogger} from '../lib/log/index.js';
import {COUNTS_KEEPER_ID, CountsKeeper} from '../lib/runtime/counts-keeper.js';

const STEPS = ['move_to_sps', 'signal_processing', 'ingest_detections'];
const NOW = Date.parse('2026-11-24T12:00:00Z');

function file(id: string, done: string[], extra: Partial<DataFileDoc> = {}): Doc {
  return {
    _id: id, type: 'data_file', status: 'good', md5sum: 'x', original_file: `/raw/${id}`,
    process: done.map((name, i) => ({name, status: 'done', started: `2026-11-24T10:0${i}:00Z`, finished: `2026-11-24T10:0${i}:01Z`})),
    ...extra,
  } as Doc;
}

const claim = (step: string, expires: number) => ({token: 1, claim: {step, version: '1', owner: 'o', host: 'h', pid: 1, token: 1, expires, since: '2026-11-24T11:00:00Z'}});

/** Documents in every place a status tells apart, and some that are not data files. */
const MIX: Doc[] = [
  file('new-1', []),
  file('new-2', []),
  file('moved-1', ['move_to_sps']),
  file('moved-claimed', ['move_to_sps'], {edw: claim('signal_processing', NOW + 60_000)}),
  file('moved-expired', ['move_to_sps'], {edw: claim('signal_processing', NOW - 1)}),
  file('retrying', ['move_to_sps'], {edw: {retry: {step: 'signal_processing', version: '1', attempts: 1, next: NOW + 5000, error: 'e'}}}),
  file('failed', ['move_to_sps'], {edw: {failed: {step: 'signal_processing', version: '1', attempts: 3, error: 'e', at: '2026-11-24T11:00:00Z'}}}),
  file('done', STEPS),
  file('bad', [], {status: 'bad'}),
  {_id: 'edw-listener:o', type: 'listener', owner: 'o'},
  {_id: 'det-1', type: 'detection', source: 'done', time: 1},
];

/**
 * A time when every claim of MIX has ended: counts started from the stage view know no claim taken
 * before them (see countsFromView), so they are compared with the view's status at a time no claim is live.
 */
const LATER = NOW + 3_600_000;

/** The status the saved counts give once every claim has ended. */
async function savedWithoutClaims(store: Store): Promise<StatusCounts> {
  return statusFromCounts(StageCounts.fromBody(await store.getLocal(COUNTS_ID)), STEPS, LATER);
}

/** `keeper` keeps the counts, is named as their keeper, and saved what the stage view says (claims left out). */
async function assertKeeps(t: ExecutionContext, store: Store, keeper: CountsKeeper, owner: string): Promise<void> {
  t.true(keeper.keeping);
  t.like(await store.getLocal(COUNTS_KEEPER_ID), {owner});
  t.deepEqual(await savedWithoutClaims(store), await statusFromView(store, STEPS, LATER));
}

async function mixed(store: Store): Promise<void> {
  await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
  const outcomes = await store.bulkWrite(MIX);
  if (!outcomes.every((o) => o.ok)) throw new Error(`setup: ${JSON.stringify(outcomes.filter((o) => !o.ok))}`);
}

forEachBackend((backend) => {
  test(`${backend.name}: counts kept from the feed give the same status as the stage view`, async (t) => {
    const store = await backend.open(t);
    await mixed(store);
    const fromView = await statusFromView(store, STEPS, NOW);
    const fromCounts = statusFromCounts(await refreshCounts(store), STEPS, NOW);
    t.deepEqual(fromCounts, fromView);
    t.like(fromView, {total: 9, bad: 1, stages: {new: 3, move_to_sps: 5, ingest_detections: 1}, failed: {signal_processing: 1}, in_progress: {signal_processing: 1}});
    t.deepEqual(fromView.rows, {
      new: {waiting: 2, in_progress: 0, retrying: 0, failed: 0, done: 0, bad: 1, excluded: 0},
      move_to_sps: {waiting: 2, in_progress: 0, retrying: 0, failed: 0, done: 0, bad: 0, excluded: 0},
      signal_processing: {waiting: 0, in_progress: 1, retrying: 1, failed: 1, done: 0, bad: 0, excluded: 0},
      ingest_detections: {waiting: 0, in_progress: 0, retrying: 0, failed: 0, done: 1, bad: 0, excluded: 0},
    }, 'a document in progress, retrying or failed at a step is in that step\'s row');
  });

  test(`${backend.name}: a refresh reads on from the saved position, moves a changed document, and forgets a deleted one`, async (t) => {
    const store = await backend.open(t);
    await mixed(store);
    await refreshCounts(store);
    const saved = await store.getLocal(COUNTS_ID);
    t.is(saved?.seq, (await store.info()).updateSeq, 'saved at the feed\'s end');
    const moving = (await store.get('moved-1')) as DataFileDoc;
    await store.put({...moving, process: [...moving.process, {name: 'signal_processing', status: 'done', started: '2026-11-24T11:00:00Z', finished: '2026-11-24T11:00:01Z'}]});
    const gone = await store.get('new-2');
    await store.bulkWrite([{...gone!, _deleted: true}]);
    const counts = await refreshCounts(store);
    t.deepEqual(statusFromCounts(counts, STEPS, NOW), await statusFromView(store, STEPS, NOW));
    t.like(statusFromCounts(counts, STEPS, NOW), {total: 8, stages: {new: 2, move_to_sps: 4, signal_processing: 1}});
    // A replay of the whole feed (a rewind, or a keeper far behind) changes nothing.
    const replayed = StageCounts.fromBody({...(await store.getLocal(COUNTS_ID))!, seq: '0'});
    t.deepEqual(statusFromCounts(replayed, STEPS, NOW), statusFromCounts(counts, STEPS, NOW));
    const caughtUp = await refreshCounts(store, {save: false});
    t.deepEqual(statusFromCounts(caughtUp, STEPS, NOW), statusFromCounts(counts, STEPS, NOW));
  });

  test(`${backend.name}: a long refresh cut short keeps the progress it saved along the way (saveEveryMs)`, async (t) => {
    const store = await backend.open(t);
    await mixed(store);
    // The real store, its third feed read aborted as a stop would (pages of 2 changes).
    const cutShort = async (saveEveryMs?: number): Promise<void> => {
      const stop = new AbortController();
      let reads = 0;
      const stopping = new Proxy(store, {get: (target, key) => {
        if (key !== 'changes') {
          const value: unknown = Reflect.get(target, key, target);
          return typeof value === 'function' ? value.bind(target) : value;
        }
        return (params: Parameters<Store['changes']>[0]) => {
          if (++reads === 3) stop.abort(new Error('stopped'));
          return target.changes({...params, signal: stop.signal});
        };
      }});
      await t.throwsAsync(refreshCounts(stopping, {pageSize: 2, signal: stop.signal, ...(saveEveryMs === undefined ? {} : {saveEveryMs})}));
      t.is(reads, 3, 'cut short at the third read');
    };
    await cutShort();
    t.is(await store.getLocal(COUNTS_ID), null, 'without saveEveryMs nothing is saved before the end');
    await cutShort(0);
    const saved = StageCounts.fromBody(await store.getLocal(COUNTS_ID));
    t.not(saved.seq, '0');
    const firstFour = await store.changes({since: '0', limit: 4, includeDocs: true});
    const expected = firstFour.results.filter((c) => isDataFile(c.doc ?? null)).length;
    t.is(saved.places().reduce((n, p) => n + p.count, 0), expected, 'the data files of the two pages read before the stop');
    // The next refresh reads on from there to the same counts as a read from 0.
    t.deepEqual(statusFromCounts(await refreshCounts(store), STEPS, LATER), await statusFromView(store, STEPS, LATER));
  });
});

test('counts saved by an unknown version are ignored and rebuilt from the feed', (t) => {
  const counts = StageCounts.fromBody({version: 99, seq: '42', docs: {a: 0}, places: ['new\tready\t']});
  t.is(counts.seq, '0');
  t.deepEqual(counts.places(), []);
});

forEachBackend((backend) => {
  test(`${backend.name}: counts read from the stage view, paged, then the feed on top, give the stage view's status; a claim shows from its next write`, async (t) => {
    const store = await backend.open(t);
    await mixed(store);
    const counts = await countsFromView(store, {pageSize: 2});
    t.is(counts.seq, (await store.info()).updateSeq);
    t.deepEqual(statusFromCounts(counts, STEPS, NOW), await statusFromView(store, STEPS, LATER), 'claims are not read from a view');
    const moving = (await store.get('new-1')) as DataFileDoc;
    await store.put({...moving, process: [{name: 'move_to_sps', status: 'done', started: '2026-11-24T11:00:00Z', finished: '2026-11-24T11:00:01Z'}]});
    // The claim's renewal: the document written again under the same claim.
    await store.put({...(await store.get('moved-claimed'))!});
    await advanceCounts(store, counts);
    t.deepEqual(statusFromCounts(counts, STEPS, NOW), await statusFromView(store, STEPS, NOW));
    t.is(statusFromCounts(counts, STEPS, NOW).stages.new, 2);
  });

  test(`${backend.name}: one process keeps the stage counts; another leaves them to it, and takes over when it has gone quiet`, async (t) => {
    const store = await backend.open(t);
    await mixed(store);
    const log = silentLogger();
    const a = new CountsKeeper({store, log, owner: 'a'});
    const b = new CountsKeeper({store, log, owner: 'b'});
    t.teardown(async () => {
      await a.stop();
      await b.stop();
    });
    await a.refreshNow();
    await assertKeeps(t, store, a, 'a');
    await b.refreshNow();
    t.false(b.keeping, 'a refreshed them a moment ago');
    t.like(await store.getLocal(COUNTS_KEEPER_ID), {owner: 'a'});

    // a goes on from what it holds: a change reaches the saved counts.
    const moving = (await store.get('new-1')) as DataFileDoc;
    await store.put({...moving, process: [{name: 'move_to_sps', status: 'done', started: '2026-11-24T11:00:00Z', finished: '2026-11-24T11:00:01Z'}]});
    await a.refreshNow();
    const afterA = StageCounts.fromBody(await store.getLocal(COUNTS_ID));
    t.is(afterA.seq, (await store.info()).updateSeq);
    t.deepEqual(statusFromCounts(afterA, STEPS, LATER), await statusFromView(store, STEPS, LATER));
    t.is(statusFromCounts(afterA, STEPS, NOW).stages.move_to_sps, 6);

    // a's last refresh is long past (its process died): b takes over from the saved counts.
    await store.putLocal(COUNTS_KEEPER_ID, {owner: 'a', at: Date.now() - 60_000});
    const gone = await store.get('new-2');
    await store.put({...gone!, _deleted: true});
    await b.refreshNow();
    await assertKeeps(t, store, b, 'b');
    await a.refreshNow();
    t.false(a.keeping, 'a, back, finds b keeping them');
  });

  test(`${backend.name}: a keeper refreshes as it starts, not one interval later`, async (t) => {
    const store = await backend.open(t);
    await mixed(store);
    const keeper = new CountsKeeper({store, log: silentLogger(), owner: 'k', intervalMs: 3_600_000});
    t.teardown(() => keeper.stop());
    const putLocal = store.putLocal.bind(store);
    const saved = new Promise<void>((resolve) => {
      store.putLocal = async (id, body, signal) => {
        await putLocal(id, body, signal);
        if (id === COUNTS_ID) resolve();
      };
    });
    await keeper.start();
    const waited = await Promise.race([saved.then(() => 'saved'), delay(60_000, 'not saved within 60 s of start', {ref: false})]);
    t.is(waited, 'saved');
    await assertKeeps(t, store, keeper, 'k');
  });

  test(`${backend.name}: a keeper stopped in the middle of a refresh reads the feed to its end and saves it`, async (t) => {
    const store = await backend.open(t);
    await mixed(store);
    const keeper = new CountsKeeper({store, log: silentLogger(), owner: 'k', pageSize: 2});
    t.teardown(() => keeper.stop());
    await keeper.refreshNow();
    const start = StageCounts.fromBody(await store.getLocal(COUNTS_ID)).seq;
    for (const id of ['late-1', 'late-2', 'late-3', 'late-4', 'late-5', 'late-6']) await store.put(file(id, []));
    // The stop comes while the refresh's second page is being read: that refresh ends without saving.
    let calls = 0;
    let stopped: Promise<void> | undefined;
    const changes = store.changes.bind(store);
    store.changes = async (params) => {
      const page = await changes(params);
      if (++calls === 2) stopped = keeper.stop();
      return page;
    };
    await keeper.refreshNow();
    await stopped;
    store.changes = changes;
    const saved = StageCounts.fromBody(await store.getLocal(COUNTS_ID));
    t.not(saved.seq, start);
    t.is(saved.seq, (await store.info()).updateSeq);
    t.is(statusFromCounts(saved, STEPS, NOW).stages.new, 9, 'three registered before, the six late ones');
    t.deepEqual(statusFromCounts(saved, STEPS, LATER), await statusFromView(store, STEPS, LATER));
  });
});
