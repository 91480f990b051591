import {join} from 'node:path';
import test from 'ava';
import type {DataFileDoc, PeriodDoc} from '../lib/pipeline/index.js';
import {edwChild as edw} from './helpers/cli.js';
import {workspace} from './helpers/workspace.js';

/** Each document in turn (an embedded folder is opened by one process at a time). */
async function shows(cfg: string[], ids: string[]): Promise<DataFileDoc[]> {
  const docs: DataFileDoc[] = [];
  for (const id of ids) docs.push(await json<DataFileDoc>(...cfg, 'show', id, '--json'));
  return docs;
}

async function json<T>(...argv: string[]): Promise<T> {
  const result = await edw(...argv);
  if (result.code !== 0) throw new Error(`edw ${argv.join(' ')} exited ${result.code}: ${result.err.join('\n')}`);
  return JSON.parse(result.out.join('\n')) as T;
}

test('a power cut thrown out: its files are marked and not processed, status shows them, a file registered later in it is marked, removal unmarks and keeps the record', async (t) => {
  const ws = await workspace(t);
  const cfg = ['--config', ws.configPath];
  t.is((await edw(...cfg, 'init')).code, 0);
  t.is((await edw('simulate', '--out', join(ws.dir, 'raw'), '--files', '6', '--events', '2')).code, 0);
  const files = Array.from({length: 6}, (_, i) => join(ws.dir, 'raw', `ma22a000_00${i}.edwr`));
  t.is((await edw(...cfg, 'register', ...files.slice(0, 5))).code, 0);
  const ids = [0, 1, 2, 3, 4].map((i) => `ma22a000_00${i}`);
  const docs = await shows(cfg, ids);
  const times = docs.map((d) => d.file_mtime!);
  t.true(times.every((time, i) => i === 0 || time > times[i - 1]!), 'files are dated one after another');

  // Bad input: one line, exit 2, nothing written.
  const noRange = await edw(...cfg, 'period', 'add', 'pc', '--reason', 'power cut');
  t.is(noRange.code, 2);
  t.deepEqual(noRange.err, ['edw: a period needs --from and --to, or --run']);
  t.is((await edw(...cfg, 'period', 'add', 'pc', '--from', String(times[3]), '--to', String(times[1]), '--reason', 'x')).code, 2);
  t.is((await edw(...cfg, 'period', 'add', 'pc', '--from', 'yesterday', '--to', String(times[1]), '--reason', 'x')).code, 2);
  t.deepEqual(await json<PeriodDoc[]>(...cfg, 'period', 'list', '--json'), []);

  // Files 1 and 2 fall in the power cut (ISO times, the end included).
  const iso = (s: number): string => new Date(s * 1000).toISOString();
  const added = await json<{period: PeriodDoc; marked: string[]}>(...cfg, 'period', 'add', 'power-cut', '--from', iso(times[1]! - 1), '--to', String(times[2]), '--reason', 'power cut in the hall', '--json');
  t.deepEqual(added.marked, ['ma22a000_001', 'ma22a000_002']);
  t.like(added.period, {_id: 'period:power-cut', kind: 'exclude', reason: 'power cut in the hall'});
  t.regex(added.period.by, /@/);
  const again = await edw(...cfg, 'period', 'add', 'power-cut', '--from', '0', '--to', '1', '--reason', 'again');
  t.is(again.code, 1);
  t.regex(again.err[0]!, /^edw: period power-cut exists/);

  const listened = await edw(...cfg, 'listen', '--once');
  t.is(listened.code, 0, listened.err.join('\n'));
  const after = await shows(cfg, ids);
  t.deepEqual(after.map((d) => d.process.length), [3, 0, 0, 3, 3], 'steps did not run on the excluded files');
  t.like(after[1]!.periods![0]!, {period: 'power-cut', kind: 'exclude', action: 'add', reason: 'power cut in the hall'});
  const status = await json<{rows: Record<string, {excluded: number}>}>(...cfg, 'status', '--json');
  t.is(status.rows.new!.excluded, 2);
  t.is(status.rows.ingest_detections!.excluded, 0);
  const listed = await edw(...cfg, 'list', '--stage', 'new', '--excluded');
  t.deepEqual(listed.out, ['ma22a000_001  run ma22a000  excluded (period power-cut: power cut in the hall)', 'ma22a000_002  run ma22a000  excluded (period power-cut: power cut in the hall)']);

  // A file registered later whose time falls in the period is marked as it is registered.
  const later = await json<{period: PeriodDoc}>(...cfg, 'period', 'add', 'late', '--from', String(times[4]! + 1), '--to', String(times[4]! + 10_000), '--kind', 'note', '--reason', 'calibration source in', '--json');
  t.is(later.period.kind, 'note');
  t.is((await edw(...cfg, 'register', files[5]!)).code, 0);
  const fifth = await json<DataFileDoc>(...cfg, 'show', 'ma22a000_005', '--json');
  t.deepEqual(fifth.periods!.map((m) => [m.period, m.action]), [['late', 'add']]);
  const shown = await json<{files: Array<{id: string; in_force: boolean}>}>(...cfg, 'period', 'show', 'late', '--json');
  t.deepEqual(shown.files.map((f) => f.id), ['ma22a000_005']);

  // Removal: unmarked (a remove mark appended), the period records it, the files are processed.
  const removed = await json<{period: PeriodDoc; unmarked: string[]}>(...cfg, 'period', 'remove', 'power-cut', '--reason', 'the power was back: wrong period', '--json');
  t.deepEqual(removed.unmarked, ['ma22a000_001', 'ma22a000_002']);
  t.like(removed.period.removed, {reason: 'the power was back: wrong period'});
  const listenedAgain = await edw(...cfg, 'listen', '--once');
  t.is(listenedAgain.code, 0, listenedAgain.err.join('\n'));
  const back = await json<DataFileDoc>(...cfg, 'show', 'ma22a000_001', '--json');
  t.is(back.process.length, 3);
  t.deepEqual(back.periods!.map((m) => m.action), ['add', 'remove'], 'both marks are kept');
  const list = await edw(...cfg, 'period', 'list');
  t.is(list.out.length, 2);
  t.regex(list.out.find((l) => l.startsWith('power-cut'))!, /REMOVED .* the power was back/);
  const shownRemoved = await json<{files: Array<{id: string; in_force: boolean}>}>(...cfg, 'period', 'show', 'power-cut', '--json');
  t.deepEqual(shownRemoved.files, [{id: 'ma22a000_001', run: 'ma22a000', time: times[1], in_force: false}, {id: 'ma22a000_002', run: 'ma22a000', time: times[2], in_force: false}] as never);

  // History is append-only: a mark cannot be taken away, a period cannot be changed.
  const store = await ws.open();
  const doc = (await store.get('ma22a000_001')) as DataFileDoc;
  await t.throwsAsync(store.put({...doc, periods: doc.periods!.slice(0, 1)}), {message: /periods is append-only/});
  const period = (await store.get('period:power-cut'))!;
  await t.throwsAsync(store.put({...period, reason: 'nothing happened'}), {message: /a period is never changed/});
});
