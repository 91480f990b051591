/**
 * `GET /api/v1/documents?where=PATH OP VALUE`: the documents route searches by any metadata field with
 * edw query's filters, on every backend, paged by cursor, combined with row, state and run; a
 * malformed filter is a 400 saying what is wrong.
 */
import test, {type ExecutionContext} from 'ava';
import {compileDesignDocs, DESIGN_DOCS_DIR, pushDesignDocs} from '../lib/design/index.js';
import {silentLogger} from '../lib/log/index.js';
import type {DataFileDoc} from '../lib/pipeline/index.js';
import {createApp} from '../lib/serve/index.js';
import type {Doc} from '../lib/store/index.js';
import {forEachBackend, type Backend} from './helpers/backends.js';

const CHAIN = [{name: 'move_to_sps', after: 'new'}, {name: 'signal_processing', after: 'move_to_sps'}];
const NOW = Date.parse('2026-11-24T12:00:00Z');

/** Twelve files whose temperature, facility, tags and run vary; some moved on, one failed. */
const FILES: DataFileDoc[] = Array.from({length: 12}, (_, i) => ({
  _id: `f-${String(i).padStart(2, '0')}`, status: 'good', run: i < 6 ? 'run_a' : 'run_b', md5sum: 'x', original_file: `/raw/f-${i}`,
  conditions: {temperature: i * 0.005, facility: i % 3 === 0 ? 'tunka' : 'baikal', tags: i % 2 ? ['calib'] : []},
  process: i % 4 === 0 ? [{name: 'move_to_sps', status: 'done', started: '2026-11-24T10:00:00Z', finished: '2026-11-24T10:00:01Z', host: 'daq1', version: '1', attempt: 1}] : [],
  ...(i === 3 ? {edw: {failed: {step: 'move_to_sps', version: '1', attempts: 3, error: 'md5 mismatch', at: '2026-11-24T11:00:00Z'}}} : {}),
}) as DataFileDoc);
/** Not a data file, though it has the field: never found. */
const DETECTION: Doc = {_id: 'detection:f-00:0', type: 'detection', conditions: {temperature: 0, facility: 'tunka'}};

async function api(t: ExecutionContext, backend: Backend) {
  const store = await backend.open(t);
  await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
  await store.bulkWrite([...FILES, DETECTION]);
  const app = await createApp({store, chain: CHAIN, log: silentLogger(), now: () => NOW});
  t.teardown(() => app.close());
  return async (query: string): Promise<{status: number; body: any}> => {
    const r = await app.inject({method: 'GET', url: `/api/v1/documents?${query}`});
    return {status: r.statusCode, body: JSON.parse(r.body)};
  };
}

const where = (...filters: string[]): string => filters.map((f) => `where=${encodeURIComponent(f)}`).join('&');
const ids = (keep: (doc: DataFileDoc, i: number) => boolean): string[] => FILES.filter(keep).map((d) => d._id);

forEachBackend((backend) => {
  test(`${backend.name}: where= filters documents by any metadata field as edw query does, page by page, each once`, async (t) => {
    const get = await api(t, backend);
    const pageThrough = async (query: string): Promise<string[]> => {
      const found: string[] = [];
      let cursor: string | null = null;
      for (let pages = 0; pages === 0 || cursor; pages++) {
        const {status, body} = await get(`${query}${cursor ? `&cursor=${cursor}` : ''}`);
        t.is(status, 200, JSON.stringify(body));
        t.true(body.documents.length <= 2, 'no page longer than limit');
        found.push(...body.documents.map((d: {id: string}) => d.id));
        cursor = body.next;
        if (pages > 20) throw new Error('no end');
      }
      return found;
    };
    t.deepEqual(await pageThrough(`${where('conditions.temperature<0.02')}&limit=2`), ids((_, i) => i * 0.005 < 0.02));
    t.deepEqual(await pageThrough(`${where('conditions.facility=tunka', 'conditions.temperature>=0.01')}&limit=2`), ids((_, i) => i % 3 === 0 && i * 0.005 >= 0.01), 'two filters, both to hold');
    t.deepEqual(await pageThrough(`${where('conditions.tags contains calib')}&run=run_b&limit=2`), ids((_, i) => i % 2 === 1 && i >= 6), 'contains, with run');
    t.deepEqual(await pageThrough(`${where('conditions.facility in (tunka,nowhere)')}&stage=move_to_sps&limit=2`), ids((_, i) => i % 3 === 0 && (i % 4 === 0 || i === 3)), 'in, with a row (row move_to_sps: moved on, or failed inside the step)');
    t.deepEqual(await pageThrough(`${where('conditions.facility=baikal')}&state=failed&limit=2`), [], 'the failed one is at tunka');
    t.deepEqual(await pageThrough(`${where('conditions.facility=tunka')}&state=failed&limit=2`), ['f-03'], 'a state');

    const one = await get(`${where('conditions.temperature<=0.005')}&limit=1`);
    t.like(one.body.documents[0], {id: 'f-00', run: 'run_a', row: 'move_to_sps', state: 'waiting', stage: 'move_to_sps'});
    t.is(one.body.documents[0].doc.conditions.facility, 'tunka', 'the document as the database holds it');
    const last = await get(`${where('conditions.temperature<=0.005')}&cursor=${one.body.next}`);
    t.deepEqual([last.body.documents.map((d: {id: string}) => d.id), last.body.next], [['f-01'], null]);
  });

  test(`${backend.name}: a malformed filter, a where cursor used without where, or too many filters are 400 with {error, message}`, async (t) => {
    const get = await api(t, backend);
    t.deepEqual(await get(where('conditions.temperature')), {status: 400, body: {
      error: 'bad_request', message: "filter 'conditions.temperature': expected PATH OP VALUE with OP one of = != < <= > >= in contains ('conditions.temperature<0.02', 'run in (a,b)')",
    }});
    t.deepEqual((await get(where('run in a,b'))).body.message, "filter 'run in a,b': 'in' takes a list in parentheses, like (A,B)");
    const first = await get(`${where('conditions.facility=tunka')}&limit=1`);
    t.is(first.status, 200);
    t.regex((await get(`cursor=${first.body.next}`)).body.message, /not a cursor this API gave/, 'a search cursor is no listing cursor');
    t.regex((await get(`${where('run=run_a')}&cursor=${Buffer.from(JSON.stringify({row: 'new'})).toString('base64url')}`)).body.message, /not a cursor this API gave/);
    t.regex((await get(Array.from({length: 21}, () => where('run=run_a')).join('&'))).body.message, /querystring\/where must NOT have more than 20 items/);
    t.is((await get(`${where('conditions.facility=tunka')}&stage=nope`)).body.message, 'unknown stage nope (stages: new, move_to_sps, signal_processing)');
  });
});
