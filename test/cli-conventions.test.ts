import {readFile} from 'node:fs/promises';
import {join} from 'node:path';
import test from 'ava';
import {buildProgram} from '../lib/cli/index.js';
import {compileDesignDocs, DESIGN, DESIGN_DOCS_DIR, designVersion, type DesignDoc} from '../lib/design/index.js';
import {eachDetection, listListeners} from '../lib/inspect/index.js';
import {silentLogger} from '../lib/log/index.js';
import {deleteOldHeartbeats, Heartbeat, heartbeatId, type HeartbeatDoc} from '../lib/runtime/index.js';
import type {Doc, Store} from '../lib/store/index.js';
import {edw} from './helpers/cli.js';
import {workspace} from './helpers/workspace.js';

const DAY_MS = 86_400_000;

test('edw --version prints the package version and the design documents\' version, which the pushed copy matches', async (t) => {
  const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as {version: string};
  const compiled = await compileDesignDocs(DESIGN_DOCS_DIR);
  const version = await edw('--version');
  t.is(version.code, 0, version.err.join('\n'));
  t.deepEqual(version.out, [`edw ${pkg.version} (design documents ${designVersion(compiled)})`]);
  t.regex(designVersion(compiled), /^[0-9a-f]{12}$/);
  t.deepEqual((await edw('-V')).out, version.out);

  const ws = await workspace(t);
  const store = await ws.open();
  const copy = (await store.get(`_design/${DESIGN}`)) as DesignDoc | null;
  const copies = (await store.getMany(compiled.map((d) => d._id))) as unknown as DesignDoc[];
  t.is(designVersion(copies), designVersion(compiled), 'the database\'s copies (with their _rev) have the same version');
  const edited = {...copy!, views: {...copy!.views, detections: {map: 'function (doc) { emit(doc.time, null); }'}}};
  t.not(designVersion([edited]), designVersion(compiled), 'a changed function changes it');
});

test('every command\'s help ends with examples of it and marks its required options', async (t) => {
  const program = buildProgram({io: {out: () => {}, err: () => {}, tty: false}, exitCode: 0});
  t.true(program.commands.length >= 12);
  for (const command of [program, ...program.commands]) {
    const argv = command === program ? ['--help'] : [command.name(), '--help'];
    const help = await edw(...argv);
    t.is(help.code, 0, argv.join(' '));
    const text = help.out.join('\n');
    const lines = text.split('\n');
    const examples = text.slice(text.indexOf('\nExamples:\n'));
    t.true(text.includes('\nExamples:\n'), `edw ${argv.join(' ')} has no examples`);
    if (command !== program) t.regex(examples, new RegExp(`\\n {2}\\$ edw ${command.name()}\\b`), `edw ${command.name()}'s examples run it`);
    for (const option of command.options) {
      const line = lines.find((l) => l.trimStart().startsWith(option.flags));
      t.truthy(line, `${command.name()} ${option.flags} is in its help`);
      t.is(line!.includes('(required)'), option.mandatory, `${command.name()} ${option.flags} is marked required exactly when it is`);
    }
  }
  const list = (await edw('list', '--help')).out.join('\n').split('\n');
  t.true(list.some((l) => /--stage <stage> .*\(required\)/.test(l)));
  t.true(list.some((l) => /--limit <n> .*\(default: 100\)/.test(l)));
  const detections = (await edw('detections', '--help')).out.join('\n').split('\n');
  t.true(detections.some((l) => /--from <time> +\S.*\(default: the first\)/.test(l)), 'described');
  t.true(detections.some((l) => /--tz <zone> +\S.*\(default: "UTC"\)/.test(l)));
});

test('simulate\'s help shows the defaults simulate writes with', async (t) => {
  const help = (await edw('simulate', '--help')).out.join('\n');
  const shown = (flag: string): string => new RegExp(`${flag} <\\w+> .*\\(default: ([^)]+)\\)`).exec(help)?.[1] ?? 'none shown';
  const ws = await workspace(t);
  const out = join(ws.dir, 'sim');
  t.is((await edw('simulate', '--out', out, '--files', '1')).code, 0);
  const truth = JSON.parse(await readFile(join(out, 'truth.json'), 'utf8')) as {run: string; seed: number; noise: number; files: Array<{pulses: unknown[]}>};
  t.is(shown('--events'), String(truth.files[0]!.pulses.length));
  t.is(shown('--seed'), String(truth.seed));
  t.is(shown('--noise'), String(truth.noise));
  t.is(shown('--run'), truth.run);
});

test('usage errors are one line beginning "edw:" and exit 2: unknown option, missing required option or argument, unknown command, bad number', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['status', '--frobnicate'], /^edw: unknown option '--frobnicate'/],
    [['--frobnicate'], /^edw: unknown option '--frobnicate'/],
    [['bundle', '0cc175b9c0f1b6a831c399e269772661', '--what', 'raw'], /^edw: required option '--out <dir>' not specified$/],
    [['detections', '--min-amplitude', 'big'], /^edw: --min-amplitude big: expected a number$/],
    [['detections', '--rate', 'minute'], /^edw: --rate minute: expected hour or day$/],
    [['query', '--season', '2025'], /^edw: --season 2025: expected YYYY\/YY/],
    [['list', '--stage'], /^edw: option '--stage <stage>' argument missing$/],
    [['frobnicate'], /^edw: unknown command 'frobnicate'/],
    [['stauts'], /^edw: unknown command 'stauts' \(Did you mean status\?\)$/],
    [['show'], /^edw: missing required argument 'id'$/],
    [['list', '--stage', 'new', '--limit', 'many'], /^edw: --limit many: expected a whole number/],
    [['simulate', '--out', 'x', '--files', '0'], /^edw: --files 0: /],
  ];
  for (const [argv, message] of cases) {
    const run = await edw(...argv);
    t.is(run.code, 2, `edw ${argv.join(' ')}`);
    t.is(run.err.length, 1, `edw ${argv.join(' ')}: ${run.err.join(' | ')}`);
    t.regex(run.err[0] ?? '', message);
    t.deepEqual(run.out, []);
  }
});

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

function heartbeat(owner: string, beatMs: number, fields: Partial<HeartbeatDoc> = {}): Doc {
  return {
    _id: heartbeatId(owner), type: 'listener', owner, host: 'h', pid: 1, started: new Date(beatMs).toISOString(),
    beat: new Date(beatMs).toISOString(), beat_ms: beatMs, interval_ms: 10_000, listeners: [], completed: 0, failed: 0, ...fields,
  };
}

async function writeHeartbeats(store: Store, now: number): Promise<void> {
  await store.bulkWrite([
    heartbeat('alive', now - 1000),
    heartbeat('stale-recent', now - DAY_MS),
    heartbeat('stale-old', now - 8 * DAY_MS),
    heartbeat('stopped-recent', now - DAY_MS, {stopped: new Date(now - DAY_MS).toISOString()}),
    heartbeat('stopped-old', now - 8 * DAY_MS, {stopped: new Date(now - 8 * DAY_MS).toISOString()}),
    // Beats once every ten days: eight days after its last beat it is alive, and is kept.
    heartbeat('slow-alive', now - 8 * DAY_MS, {interval_ms: 10 * DAY_MS}),
  ]);
}

test('edw listeners forgets listeners stopped or silent for longer than [listen] forget_after (7d), deleting their heartbeats, never a live one\'s', async (t) => {
  const ws = await workspace(t);
  t.is(ws.config.listen.forgetAfterMs, 7 * DAY_MS);
  const store = await ws.open();
  await writeHeartbeats(store, Date.now());
  await store.close();
  const run = await edw('--config', ws.configPath, 'listeners', '--json');
  t.is(run.code, 0, run.err.join('\n'));
  t.deepEqual(run.err, ['forgot 2 listeners stopped or silent for more than 7d']);
  const shown = JSON.parse(run.out[0]!) as Array<{owner: string; state: string}>;
  t.deepEqual(shown.map((r) => [r.owner, r.state]), [['alive', 'alive'], ['stale-recent', 'stale'], ['stopped-recent', 'stopped'], ['slow-alive', 'alive']]);
  const again = await edw('--config', ws.configPath, 'listeners');
  t.deepEqual(again.err, [], 'nothing left to forget');
  t.is(again.out.length, 4);
  const reopened = await ws.open();
  t.is(await reopened.get(heartbeatId('stopped-old')), null);
  t.is(await reopened.get(heartbeatId('stale-old')), null);
  t.truthy(await reopened.get(heartbeatId('slow-alive')));
});

test('[listen] forget_after sets when listeners are forgotten; listListeners alone forgets none', async (t) => {
  const ws = await workspace(t, {ini: '[listen]\nforget_after = 2h\n'});
  t.is(ws.config.listen.forgetAfterMs, 2 * 3_600_000);
  const store = await ws.open();
  await writeHeartbeats(store, Date.now());
  const unforgetting = await listListeners(store);
  t.deepEqual([unforgetting.listeners.length, unforgetting.forgotten], [6, 0], 'the function alone forgets none');
  await store.close();
  const run = await edw('--config', ws.configPath, 'listeners');
  t.deepEqual(run.err, ['forgot 4 listeners stopped or silent for more than 2h']);
  t.deepEqual(run.out.map((l) => l.split(/\s+/).slice(0, 2)), [['alive', 'alive'], ['alive', 'slow-alive']]);
});

test('a heartbeat that beat since it was read is not deleted, and a deleted one is written again at the next beat', async (t) => {
  const ws = await workspace(t);
  const store = await ws.open();
  const beatAndStop = async (): Promise<HeartbeatDoc> => {
    const beats = new Heartbeat({store, owner: 'o', log: silentLogger(), state: () => ({listeners: [], completed: 0, failed: 0})});
    beats.start();
    await beats.stop();
    return (await store.get(heartbeatId('o'))) as unknown as HeartbeatDoc;
  };
  const first = await beatAndStop();
  const second = await beatAndStop();
  const later = Date.now() + 8 * DAY_MS;
  t.is(await deleteOldHeartbeats(store, [first], DAY_MS, later), 0, 'the revision read is no longer the current one');
  t.truthy(await store.get(heartbeatId('o')));
  t.is(await deleteOldHeartbeats(store, [second], DAY_MS, later), 1);
  t.is(await store.get(heartbeatId('o')), null);
  t.truthy((await beatAndStop()).stopped, 'written again');
});
