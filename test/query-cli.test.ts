import test from 'ava';
import {queryFromArgs, type QueryArgs} from '../lib/query/index.js';
import {forEachBackend} from './helpers/backends.js';
import {edw} from './helpers/cli.js';
import {analystDocs, expectedIds} from './helpers/query-data.js';
import {workspace} from './helpers/workspace.js';

const DOCS = analystDocs(1000);

/** The paper's lookups (data aggregation for astroparticle physics): each one command, and the query it means. */
const SCENARIOS: Array<[string, string[], QueryArgs]> = [
  ['the data of one facility', ['facility=tunka'], {filters: ['facility=tunka']}],
  ['all data of a period', ['--from', '2025-01-01', '--to', '2025-01-31T23:59:59Z'], {from: '2025-01-01', to: '2025-01-31T23:59:59Z'}],
  ['one facility for a season', ['--season', '2024/25', 'facility=taiga'], {season: '2024/25', filters: ['facility=taiga']}],
  ['a test period: one run', ['--run', 'kaskad-07'], {run: ['kaskad-07']}],
  ['a regular monthly set', ['--month', '2025-06'], {month: '2025-06'}],
  ['a regular weekly set', ['--week', '2025-W20'], {week: '2025-W20'}],
  ['filtered by conditions', ['conditions.weather=clear', 'conditions.energy>=20', 'conditions.energy<120', 'conditions.channel in (A,B)', 'conditions.volts.detector_a[0]=0'],
    {filters: ['conditions.weather=clear', 'conditions.energy>=20', 'conditions.energy<120', 'conditions.channel in (A,B)', 'conditions.volts.detector_a[0]=0']}],
];

forEachBackend((backend) => test(`${backend.name}: the paper's lookups over 1,000 documents, each one command, give the documents that answer them`, async (t) => {
  const ws = await workspace(t, {ini: '[query]\nindexes = facility\n', ...(backend.name === 'server' ? {databaseUrl: await backend.databaseUrl(t)} : {})});
  const store = await ws.open();
  for (let i = 0; i < DOCS.length; i += 500) await store.bulkWrite(DOCS.slice(i, i + 500));
  await store.close();
  t.is((await edw('--config', ws.configPath, 'push-design')).code, 0);
  for (const [name, args, meaning] of SCENARIOS) {
    const expected = expectedIds(DOCS, queryFromArgs(meaning));
    t.true(expected.length > 0, name);
    const run = await edw('--config', ws.configPath, 'query', ...args, '--json');
    t.is(run.code, 0, `${name}: ${run.err.join('\n')}`);
    const answer = JSON.parse(run.out.join('\n')) as {id: string; count: number; ids: string[]; md5: string; cached: boolean; computed: string};
    t.deepEqual(answer.ids, expected, name);
    t.is(answer.count, expected.length, name);
    t.false(answer.cached, name);
    t.regex(answer.id, /^[0-9a-f]{32}$/);
    // Asked again (filters in another order): the same answer, from the cache.
    const reordered = args.every((a) => !a.startsWith('--')) ? [...args].reverse() : args;
    const again = JSON.parse((await edw('--config', ws.configPath, 'query', ...reordered, '--json')).out.join('\n')) as typeof answer;
    t.like(again, {id: answer.id, md5: answer.md5, cached: true, computed: answer.computed});
  }
}));

test('edw query pages one cached answer with --limit and --after, prints ids and a table, and says when no index serves', async (t) => {
  const ws = await workspace(t);
  const store = await ws.open();
  await store.bulkWrite(DOCS.slice(0, 200));
  await store.close();
  await edw('--config', ws.configPath, 'push-design');
  const all = await edw('--config', ws.configPath, 'query', '--run', 'tunka-0*', '--ids');
  const expected = expectedIds(DOCS.slice(0, 200), queryFromArgs({run: ['tunka-0*']}));
  t.deepEqual(all.out, expected);
  const first = await edw('--config', ws.configPath, 'query', '--run', 'tunka-0*', '--ids', '--limit', '10');
  t.deepEqual(first.out, expected.slice(0, 10));
  t.regex(first.err.join('\n'), new RegExp(`more: the same command with --after ${expected[9]}`));
  const second = await edw('--config', ws.configPath, 'query', '--run', 'tunka-0*', '--ids', '--limit', '10', '--after', expected[9]!);
  t.deepEqual(second.out, expected.slice(10, 20));
  const table = await edw('--config', ws.configPath, 'query', '--run', 'tunka-0*', '--explain');
  t.is(table.code, 0);
  t.regex(table.out[0]!, /^query [0-9a-f]{32}: run=tunka-0\*$/);
  t.regex(table.out[1]!, new RegExp(`^${expected.length} documents, md5 [0-9a-f]{32}, computed .* \\(cached, \\d+ s old; --fresh to recompute\\)$`));
  t.regex(table.out[3]!, new RegExp(`^${expected[0]} +tunka-00 +new +2024-08-01T`));
  t.regex(table.err.join('\n'), /index: _design\/edw-query run \(fields run\)/);
  const scan = await edw('--config', ws.configPath, 'query', 'conditions.weather=snow', '--explain', '--ids');
  t.is(scan.code, 0);
  t.regex(scan.err.join('\n'), /warning: no index serves this query/);
  t.regex(scan.err.join('\n'), /index: none: every document is read/);
  t.deepEqual(scan.out, expectedIds(DOCS.slice(0, 200), queryFromArgs({filters: ['conditions.weather=snow']})));
  const bad = await edw('--config', ws.configPath, 'query', 'conditions.weather');
  t.is(bad.code, 2);
  t.deepEqual(bad.err, ["edw: filter 'conditions.weather': expected PATH OP VALUE with OP one of = != < <= > >= in contains ('conditions.temperature<0.02', 'run in (a,b)')"]);
  const missing = await edw('--config', ws.configPath, 'query', '--show', '0'.repeat(32));
  t.is(missing.code, 1);
  t.regex(missing.err[0]!, /^edw: no query 0{32} in /);
});

test('edw query --show says a past answer is unchanged, then what changed', async (t) => {
  const ws = await workspace(t);
  const store = await ws.open();
  await store.bulkWrite(DOCS.slice(0, 100));
  const qid = await (async () => {
    await store.close();
    await edw('--config', ws.configPath, 'push-design');
    return (JSON.parse((await edw('--config', ws.configPath, 'query', 'facility=kaskad', '--json')).out.join('\n')) as {id: string}).id;
  })();
  const same = await edw('--config', ws.configPath, 'query', '--show', qid);
  t.is(same.out[2], 'unchanged since: the database gives the same documents at the same stages');
  const again = await ws.open();
  const doc = (await again.get('f00002'))!;
  await again.put({...doc, facility: 'moved'});
  await again.close();
  const changed = JSON.parse((await edw('--config', ws.configPath, 'query', '--show', qid, '--json')).out.join('\n')) as Record<string, unknown>;
  t.like(changed, {id: qid, changed: true, added: [], removed: ['f00002'], changed_stage: []});
});
