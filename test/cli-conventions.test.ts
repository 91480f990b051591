import test from 'ava';
import {DESIGN} from '../lib/design/index.js';
import {eachDetection} from '../lib/inspect/index.js';
import type {Doc} from '../lib/store/index.js';
import {edw} from './helpers/cli.js';
import {workspace} from './helpers/workspace.js';

/** Detection documents at the given times (some shared, so that a page can end inside a time). */
function detections(times: number[]): Doc[] {
  return times.map((time, i) => ({
    _id: `detection:f${String(i % 3)}:${String(i).padStart(3, '0')}`, type: 'detection', time, amplitude: 50 + i, channel: i % 2 ? 'detector_b' : 'detector_a', source: `f${i % 3}`,
  }));
}

test('detections are read page by page: every one in the range, once, in view order, whatever the page size', async (t) => {
  const ws = await workspace(t);
  const store = await ws.open();
  const times = [5, 1, 3, 3, 3, 3, 3, 7, 2, 9, 3, 4, 8, 8, 6, 1, 10, 0];
  await store.bulkWrite(detections(times));
  // What one unpaged query of the view answers (the old findDetections).
  const whole = async (from: number, to: number): Promise<string[]> =>
    (await store.query({design: DESIGN, view: 'detections', startkey: from, endkey: to, includeDocs: true})).rows.map((r) => r.doc!._id);
  const paged = async (from: number, to: number, pageSize: number): Promise<string[]> => {
    const ids: string[] = [];
    for await (const doc of eachDetection(store, from, to, {pageSize})) ids.push(doc._id);
    return ids;
  };
  for (const pageSize of [1, 2, 3, 4, 7, 100]) {
    t.deepEqual(await paged(0, 10, pageSize), await whole(0, 10), `page size ${pageSize}`);
    t.deepEqual(await paged(3, 8, pageSize), await whole(3, 8), `page size ${pageSize}, 3 to 8`);
  }
  t.is((await paged(0, 10, 2)).length, times.length);
  t.deepEqual(await paged(11, 20, 2), []);
});

test('edw detections prints what it printed before, as it reads, with "1 detection" and a JSON array a document a line', async (t) => {
  const ws = await workspace(t);
  const store = await ws.open();
  await store.bulkWrite(detections([1378222673.5, 1378222674.25, 1378222680]));
  const expected = (await store.query({design: DESIGN, view: 'detections', startkey: 0, endkey: 2e9, includeDocs: true})).rows.map((r) => r.doc!);
  await store.close();
  const all = await edw('--config', ws.configPath, 'detections', '--from', '0', '--to', '2000000000');
  t.is(all.code, 0, all.err.join('\n'));
  t.deepEqual(all.out, expected.map((d) => `${new Date(Number(d.time) * 1000).toISOString()}  ${String(d.channel).padEnd(12)} amplitude ${Number(d.amplitude).toFixed(1).padStart(8)}  ${String(d.source)}`));
  t.deepEqual(all.err, ['3 detections']);
  const one = await edw('--config', ws.configPath, 'detections', '--from', '2013-09-03T15:37:53Z', '--to', '1378222674');
  t.deepEqual(one.err, ['1 detection']);
  const json = await edw('--config', ws.configPath, 'detections', '--from', '0', '--to', '2000000000', '--json');
  t.deepEqual(JSON.parse(json.out.join('\n')), expected);
  t.deepEqual(json.out, ['[', ...expected.map((d, i) => `${JSON.stringify(d)}${i < expected.length - 1 ? ',' : ''}`), ']']);
  const none = await edw('--config', ws.configPath, 'detections', '--from', '0', '--to', '1', '--json');
  t.deepEqual(JSON.parse(none.out.join('\n')), []);
});
