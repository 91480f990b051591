/**
 * `GET /api/v1/completions`: completions per step and hour or minute, from the provenance
 * `completions` view, on every backend: done entries (re-executions and the seed's shape too) counted
 * at their finish time, failed ones and those without a time not; bins, ranges and bad queries.
 */
import test, {type ExecutionContext} from 'ava';
import {compileDesignDocs, DESIGN_DOCS_DIR, pushDesignDocs} from '../lib/design/index.js';
import {silentLogger} from '../lib/log/index.js';
import {createApp} from '../lib/serve/index.js';
import type {Doc} from '../lib/store/index.js';
import {forEachBackend, type Backend} from './helpers/backends.js';

const CHAIN = [{name: 'move_to_sps', after: 'new'}, {name: 'signal_processing', after: 'move_to_sps'}];
const H = Date.parse('2026-11-24T10:00:00Z') / 1000;
const NOW = (H + 3 * 3600) * 1000;
const at = (seconds: number): string => new Date(seconds * 1000).toISOString();
const entry = (name: string, finished: number | undefined, status?: string) =>
  ({name, ...(status ? {status} : {}), started: at(H), ...(finished !== undefined ? {finished: at(finished)} : {}), host: 'daq1', version: '1', attempt: 1});

/** move_to_sps: 10:00:30, 10:00:50, 10:05:00 (the seed's shape: no status), 11:59:59; signal_processing: 10:00:40 then again 12:30:00. */
const DOCS: Doc[] = [
  {_id: 'a', run: 'r', process: [entry('move_to_sps', H + 30, 'done'), entry('signal_processing', H + 40, 'failed'), entry('signal_processing', H + 40, 'done'), entry('signal_processing', H + 9000, 'done')]},
  {_id: 'b', run: 'r', process: [entry('move_to_sps', H + 50, 'done'), entry('signal_processing', undefined, 'done')]},
  {_id: 'c', run: 'r', process: [entry('move_to_sps', H + 300)]},
  {_id: 'd', run: 'r', process: [entry('move_to_sps', H + 7199, 'done')]},
  {_id: 'e', run: 'r', process: [entry('move_to_sps', H + 20, 'failed')]},
  {_id: 'detection:a:0', type: 'detection', process: 'not a list'},
];

async function api(t: ExecutionContext, backend: Backend) {
  const store = await backend.open(t);
  await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
  await store.bulkWrite(DOCS);
  const app = await createApp({store, chain: CHAIN, log: silentLogger(), now: () => NOW});
  t.teardown(() => app.close());
  return async (query: string): Promise<{status: number; body: any}> => {
    const r = await app.inject({method: 'GET', url: `/api/v1/completions?${query}`});
    return {status: r.statusCode, body: JSON.parse(r.body)};
  };
}

forEachBackend((backend) => {
  test(`${backend.name}: GET /api/v1/completions counts each step's completions per hour and per minute, from the view`, async (t) => {
    const get = await api(t, backend);
    t.deepEqual(await get(`from=${at(H)}`), {status: 200, body: {from: H, to: H + 3 * 3600, bin: 3600, steps: {move_to_sps: [3, 1, 0, 0], signal_processing: [1, 0, 1, 0]}}}, 'per hour to now');
    const minutes = await get(`from=${H + 10}&to=${H + 359}&bin=minute`);
    t.is(minutes.status, 200, JSON.stringify(minutes.body));
    t.deepEqual(minutes.body, {from: H, to: H + 359, bin: 60, steps: {move_to_sps: [2, 0, 0, 0, 0, 1], signal_processing: [1, 0, 0, 0, 0, 0]}}, 'from rounded down to its minute');
    t.deepEqual((await get(`from=${H + 3600}&to=${H + 7199}&bin=minute&step=move_to_sps`)).body.steps, {move_to_sps: [...new Array(59).fill(0), 1]}, 'one step, the last second of an hour');
    t.deepEqual((await get(`from=${H + 3600}&to=${H + 7198}&step=move_to_sps`)).body.steps, {move_to_sps: [1]}, 'an hour bin counts its whole hour');
    t.deepEqual((await get(`from=${H - 86_400}&to=${H - 1}`)).body.steps, {move_to_sps: new Array(24).fill(0), signal_processing: new Array(24).fill(0)}, 'a day before: nothing');
  });

  test(`${backend.name}: bad completions queries are 400 with {error, message}`, async (t) => {
    const get = await api(t, backend);
    t.deepEqual(await get(`from=${H}&step=nope`), {status: 400, body: {error: 'bad_request', message: 'unknown step nope (steps: move_to_sps, signal_processing)'}});
    t.regex((await get(`from=${H}&bin=day`)).body.message, /querystring\/bin must be equal to one of the allowed values/);
    t.regex((await get('to=1')).body.message, /querystring must have required property 'from'/);
    t.is((await get(`from=${H}&to=${H - 1}`)).body.message, `to ${H - 1} is before from ${H}`);
    t.is((await get('from=yesterday')).body.message, 'from yesterday: expected epoch seconds or an ISO 8601 date');
    t.is((await get(`from=${H}&to=${H + 60 * 10_000}&bin=minute`)).body.message, `10001 bins of a minute from ${H} to ${H + 600_000}: at most 10000 (a shorter range, or bin=hour)`);
  });
});
