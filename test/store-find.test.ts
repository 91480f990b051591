import test from 'ava';
import type {Doc} from '../lib/store/index.js';
import {forEachBackend} from './helpers/backends.js';

/** 60 documents: more than Mango's default page of 25, with a nested field and an array. */
const DOCS: Doc[] = Array.from({length: 60}, (_, i) => ({
  _id: `d${String(i).padStart(2, '0')}`,
  run: `r${i % 3}`,
  n: i,
  conditions: {temperature: i / 100, channel: i % 2 ? 'A' : 'B', volts: [i % 4, -1]},
}));

forEachBackend((backend) => {
  test(`${backend.name}: find returns every match, not Mango's default 25, with the fields asked for`, async (t) => {
    const store = await backend.open(t);
    await store.bulkWrite(DOCS);
    const {docs} = await store.find({selector: {n: {$gte: 10}}, fields: ['_id', 'run']});
    t.is(docs.length, 50);
    t.deepEqual(docs.map((d) => d._id).sort(), DOCS.filter((d) => Number(d.n) >= 10).map((d) => d._id));
    t.deepEqual(Object.keys(docs[0]!).sort(), ['_id', 'run']);
  });

  test(`${backend.name}: find selects by nested paths, array positions, $in and $elemMatch`, async (t) => {
    const store = await backend.open(t);
    await store.bulkWrite(DOCS);
    const ids = async (selector: Record<string, unknown>): Promise<string[]> => (await store.find({selector, fields: ['_id']})).docs.map((d) => d._id).sort();
    t.deepEqual(await ids({'conditions.temperature': {$lt: 0.03}}), ['d00', 'd01', 'd02']);
    t.deepEqual(await ids({'conditions.volts.0': 3, n: {$lt: 12}}), ['d03', 'd07', 'd11']);
    t.deepEqual(await ids({run: {$in: ['r1']}, n: {$lt: 8}}), ['d01', 'd04', 'd07']);
    t.deepEqual(await ids({'conditions.volts': {$elemMatch: {$eq: 2}}, n: {$lt: 8}}), ['d02', 'd06']);
  });

  test(`${backend.name}: an index is created once, and explain names it for a selector on its field and _all_docs otherwise`, async (t) => {
    const store = await backend.open(t);
    await store.bulkWrite(DOCS);
    t.true(await store.createIndex({fields: ['run'], ddoc: 'edw-query', name: 'run'}));
    t.false(await store.createIndex({fields: ['run'], ddoc: 'edw-query', name: 'run'}));
    const plan = await store.explain({selector: {run: 'r2'}});
    t.like(plan, {ddoc: 'edw-query', name: 'run', type: 'json'});
    t.deepEqual(plan.fields, ['run']);
    const none = await store.explain({selector: {n: 3}});
    t.like(none, {ddoc: null, name: '_all_docs'});
    const answer = await store.find({selector: {run: 'r2'}, fields: ['_id']});
    t.is(answer.docs.length, 20);
    t.is(answer.warning, undefined);
    const scanned = await store.find({selector: {n: 3}, fields: ['_id']});
    t.deepEqual(scanned.docs.map((d) => d._id), ['d03']);
    t.regex(scanned.warning ?? '', /index/i);
  });
});
