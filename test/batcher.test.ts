import test from 'ava';
import {ConflictError, ForbiddenError} from '../lib/errors/index.js';
import {compileDesignDocs, DESIGN_DOCS_DIR, pushDesignDocs} from '../lib/design/index.js';
import {WriteBatcher} from '../lib/runtime/batcher.js';
import type {Doc, Store} from '../lib/store/index.js';
import {forEachBackend} from './helpers/backends.js';

/** The real store, with its write calls counted. */
function counted(store: Store): {store: Store; calls: {put: number; bulk: number; bulkSizes: number[]}} {
  const calls = {put: 0, bulk: 0, bulkSizes: [] as number[]};
  const wrapper = Object.create(store) as Store;
  wrapper.put = (doc, signal) => {
    calls.put++;
    return store.put(doc, signal);
  };
  wrapper.bulkWrite = (docs, signal) => {
    calls.bulk++;
    calls.bulkSizes.push(docs.length);
    return store.bulkWrite(docs, signal);
  };
  return {store: wrapper, calls};
}

forEachBackend((backend) => {
  test(`${backend.name}: writes asked for in one turn go out as one bulk request, each with its own revision`, async (t) => {
    const real = await backend.open(t);
    const docs: Doc[] = Array.from({length: 30}, (_, i) => ({_id: `d${String(i).padStart(2, '0')}`, n: i}));
    const {store, calls} = counted(real);
    const batcher = new WriteBatcher({store});
    const revs = await Promise.all(docs.map((d) => batcher.put(d)));
    t.is(calls.bulk, 1);
    t.is(calls.put, 0);
    for (const [i, rev] of revs.entries()) t.is((await real.get(docs[i]!._id))?._rev, rev);
  });

  test(`${backend.name}: in a batch a stale revision is a ConflictError and a refused write a ForbiddenError for that document alone`, async (t) => {
    const real = await backend.open(t);
    await pushDesignDocs(real, await compileDesignDocs(DESIGN_DOCS_DIR));
    const first = await real.put({_id: 'a', n: 1});
    await real.put({_id: 'a', _rev: first, n: 2});
    const file = {_id: 'f', type: 'data_file', status: 'good', md5sum: 'x', original_file: '/raw/f', process: [{name: 'move_to_sps', status: 'done', started: '2026-01-01T00:00:00Z'}]};
    const fileRev = await real.put(file);
    const batcher = new WriteBatcher({store: real});
    const results = await Promise.allSettled([
      batcher.put({_id: 'a', _rev: first, n: 3}),
      batcher.put({...file, _rev: fileRev, process: []}),
      batcher.put({_id: 'b', n: 1}),
    ]);
    t.true(results[0].status === 'rejected' && results[0].reason instanceof ConflictError);
    t.true(results[1].status === 'rejected' && results[1].reason instanceof ForbiddenError, String((results[1] as PromiseRejectedResult).reason));
    t.is(results[2].status, 'fulfilled');
    t.is((await real.get('a'))?.n, 2);
    t.is(((await real.get('f')) as unknown as {process: unknown[]}).process.length, 1);
  });

  test(`${backend.name}: a second write of one document in the same turn goes in the next request, and a lone write is a plain put`, async (t) => {
    const real = await backend.open(t);
    const {store, calls} = counted(real);
    const batcher = new WriteBatcher({store});
    const [one, two, other] = await Promise.allSettled([batcher.put({_id: 'x', n: 1}), batcher.put({_id: 'x', n: 2}), batcher.put({_id: 'y'})]);
    t.is(one.status, 'fulfilled');
    // The second was based on no revision while the first created one: a conflict, as store.put gives.
    t.true(two.status === 'rejected' && two.reason instanceof ConflictError);
    t.is(other.status, 'fulfilled');
    t.deepEqual({bulk: calls.bulk, put: calls.put}, {bulk: 1, put: 1});
    t.is((await real.get('x'))?.n, 1);
  });
});

test('WriteBatcher refuses a bad maxBatch, naming it', async (t) => {
  t.throws(() => new WriteBatcher({store: {} as Store, maxBatch: 0}), {instanceOf: TypeError, message: /maxBatch.*0/});
});
