import test from 'ava';
import {compileDesignDocs, DESIGN_DOCS_DIR, pushDesignDocs} from '../lib/design/index.js';
import {ForbiddenError} from '../lib/errors/index.js';
import type {DataFileDoc} from '../lib/pipeline/index.js';
import {backends} from './helpers/backends.js';

const seed = {
  _id: 'ma22a000_000', status: 'good', md5sum: '977f5c2288038a593d04eb35b08670b2', run: 'ma22a000', datecreated: 1378222673.477208,
  process: [{name: 'move_to_sps', hostname: 'daq1', file: '/sps/ma22a000_000.root'}], conditions: {}, original_file: '/mnt/data/ma22a000_000.root',
};

for (const backend of backends) {
  test(`${backend.name}: the database refuses a write that changes provenance, and keeps the document as it was`, async (t) => {
    const store = await backend.open(t);
    await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
    const rev = await store.put(seed);
    const appended = {...seed, _rev: rev, process: [...seed.process, {name: 'signal_processing', status: 'done'}]};
    const rev2 = await store.put(appended);
    const rewritten = {...appended, _rev: rev2, process: [{...seed.process[0], file: '/elsewhere'}, appended.process[1]]};
    const error = await t.throwsAsync(store.put(rewritten), {instanceOf: ForbiddenError});
    t.regex(error!.message, /process is append-only: entry 0 was changed or removed \(document ma22a000_000\)/);
    const kept = (await store.get(seed._id)) as DataFileDoc;
    t.is(kept._rev, rev2);
    t.deepEqual(kept.process, appended.process);
  });

  test(`${backend.name}: in a bulk write each refused document fails alone`, async (t) => {
    const store = await backend.open(t);
    await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
    const rev = await store.put(seed);
    const outcomes = await store.bulkWrite([
      {_id: 'fine', status: 'good', process: []},
      {...seed, _rev: rev, process: []},
      {_id: 'det', type: 'detection', source: 'x'},
    ]);
    t.like(outcomes[0], {id: 'fine', ok: true});
    t.like(outcomes[1], {id: seed._id, ok: false, error: 'forbidden'});
    t.like(outcomes[2], {id: 'det', ok: false, error: 'forbidden'});
    t.regex((outcomes[2] as {reason: string}).reason, /numeric time/);
    t.is((await store.get(seed._id))?._rev, rev);
    t.is(await store.get('det'), null);
  });

  test(`${backend.name}: a write on a stale revision is a conflict, not a refusal`, async (t) => {
    const store = await backend.open(t);
    await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
    const rev = await store.put(seed);
    await store.put({...seed, _rev: rev, process: [...seed.process, {name: 'x', status: 'done'}]});
    // Based on the first revision: on CouchDB a 409; pouchdb-server may answer 403 (see runtime/update.ts).
    await t.throwsAsync(store.put({...seed, _rev: rev, process: []}));
  });
}
