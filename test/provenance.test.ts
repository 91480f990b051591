// The seed's list of what scientists lose track of (seed/003), one test per question, each answered by
// one edw command on a chain that was run, had a power cut thrown out, and was reprocessed once with a
// new version of signal_processing; each answer is checked against what the test did.
import {execFileSync} from 'node:child_process';
import {mkdir, readFile, stat, writeFile} from 'node:fs/promises';
import {hostname, userInfo} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import anyTest, {type TestFn} from 'ava';
import md5File from 'md5-file';
import type {DataFileDoc, PeriodDoc, ProcessEntry} from '../lib/pipeline/index.js';
import type {Lineage, ProvenanceReport, ReprocessRecord, SelectionVersion} from '../lib/provenance/index.js';
import {openStore} from '../lib/store/index.js';
import {edwChild as edw} from './helpers/cli.js';
import {chainIni, workspace, type Workspace} from './helpers/workspace.js';

interface Context {
  ws: Workspace;
  cfg: string[];
  ids: string[];
  /** The files in the power cut. */
  cut: string[];
  /** Each document's entries after the first processing, before the reprocessing. */
  first: Map<string, ProcessEntry[]>;
  commit: string;
  statsFile: string;
  reprocessed: ReprocessRecord;
  selectionSavedAt: number;
}

const test = anyTest as TestFn<Context>;

async function json<T>(...argv: string[]): Promise<T> {
  const result = await edw(...argv);
  if (result.code !== 0) throw new Error(`edw ${argv.join(' ')} exited ${result.code}: ${result.err.join('\n')}`);
  return JSON.parse(result.out.join('\n')) as T;
}

async function must(...argv: string[]): Promise<void> {
  const result = await edw(...argv);
  if (result.code !== 0) throw new Error(`edw ${argv.join(' ')} exited ${result.code}: ${result.err.join('\n')}`);
}

const git = (dir: string, ...args: string[]): string => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], {cwd: dir, encoding: 'utf8'}).trim();

// Hooks have no t.teardown: the workspace's clean-up runs after all tests.
const cleanups: Array<() => unknown> = [];
test.after.always(async () => {
  for (const cleanup of cleanups) await cleanup();
});

test.before(async (t) => {
  // The analysis code (a module step after the detections) lives in a git work tree.
  const ws = await workspace({teardown: (f: () => unknown) => cleanups.push(f)} as never, {ini: `${chainIni()}
[step.stats]
after = ingest_detections
module = ./analysis/stats.mjs
`});
  const cfg = ['--config', ws.configPath];
  const analysis = join(ws.dir, 'analysis');
  await mkdir(analysis);
  const statsFile = join(analysis, 'stats.mjs');
  await writeFile(statsFile, `export default {version: '1', async run(doc) { return {analysed: doc._id}; }};\n`);
  git(analysis, 'init', '-q');
  git(analysis, 'add', '.');
  git(analysis, 'commit', '-qm', 'stats');
  const commit = git(analysis, 'rev-parse', 'HEAD');

  await must(...cfg, 'init');
  await must('simulate', '--out', join(ws.dir, 'raw'), '--files', '6', '--events', '3');
  await must(...cfg, 'register', join(ws.dir, 'raw'));
  const ids = Array.from({length: 6}, (_, i) => `ma22a000_00${i}`);
  const times: number[] = [];
  for (const id of ids) times.push((await stat(join(ws.dir, 'raw', `${id}.edwr`))).mtimeMs / 1000);
  // The power went off while files 2 and 3 were taken.
  await must(...cfg, 'period', 'add', 'power-cut', '--from', new Date(times[2]! * 1000 - 1000).toISOString(), '--to', String(times[3]), '--reason', 'power cut in the cryostat hall');
  await must(...cfg, 'selection', 'save', 'golden', 'ma22a000_000', 'ma22a000_001', '--reason', 'first look');
  const selectionSavedAt = Date.now() / 1000;
  await must(...cfg, 'listen', '--once');
  const first = new Map<string, ProcessEntry[]>();
  for (const id of ids) first.set(id, (await json<DataFileDoc>(...cfg, 'show', id, '--json')).process);
  await new Promise((resolve) => setTimeout(resolve, 1100));
  await must(...cfg, 'selection', 'save', 'golden', '--run', 'ma22a000', '--reason', 'the whole run for the paper');

  // signal_processing version 2 is configured, then a campaign over the run starts.
  await writeFile(ws.configPath, (await readFile(ws.configPath, 'utf8')).replace('kind = signal_processing\n', 'kind = signal_processing\nversion = 2\n'));
  const reprocessed = await json<ReprocessRecord>(...cfg, 'reprocess', '--step', 'signal_processing', '--version', '2', '--selection', 'golden', '--reason', 'baseline fit corrected', '--json');
  await must(...cfg, 'listen', '--once');

  // An analyst's saved query (issue 17's edw query writes query:<QID> with the ids it matched).
  const store = await openStore({url: ws.config.database.url});
  await store.put({_id: 'query:q1', type: 'query', query: {run: 'ma22a000', amplitude: {gte: 50}}, ids: ['ma22a000_000', 'ma22a000_004']});
  await store.close();
  t.context = {ws, cfg, ids, cut: ['ma22a000_002', 'ma22a000_003'], first, commit, statsFile, reprocessed, selectionSavedAt};
});

const processed = (c: Context): string[] => c.ids.filter((id) => !c.cut.includes(id));

test.serial('what data files did we run over: provenance of the selection lists every file, where it stands, the excluded ones flagged', async (t) => {
  const {cfg, ids, cut} = t.context;
  const report = await json<ProvenanceReport>(...cfg, 'provenance', '--selection', 'golden', '--json');
  t.deepEqual(report.files.map((f) => f.id), ids);
  for (const f of report.files) {
    t.is(f.excluded, cut.includes(f.id), f.id);
    t.is(f.stage, cut.includes(f.id) ? 'new' : 'stats', f.id);
  }
});

test.serial('where are those data files stored: every copy with its md5 (the raw original and the transferred one)', async (t) => {
  const {cfg, ws, cut} = t.context;
  const report = await json<ProvenanceReport>(...cfg, 'provenance', '--run', 'ma22a000', '--json');
  for (const f of report.files) {
    const raw = join(ws.dir, 'raw', `${f.id}.edwr`);
    const md5 = await md5File(raw);
    t.is(f.md5, md5);
    if (!f.md5) continue;
    const expected = cut.includes(f.id) ? [raw] : [raw, join(ws.dir, 'sps', 'ma22a000', `${f.id}.edwr`)];
    t.deepEqual(f.copies.map((c) => c.path), expected, f.id);
    for (const c of f.copies) t.is(await md5File(c.path), c.md5 ?? '', `${c.path} is where it says, with its md5`);
  }
});

test.serial('what time and run periods did that correspond to: each file\'s run and time (its end of acquisition)', async (t) => {
  const {cfg, ws} = t.context;
  const report = await json<ProvenanceReport>(...cfg, 'provenance', '--run', 'ma22a000', '--json');
  for (const f of report.files) {
    t.is(f.run, 'ma22a000');
    t.is(f.time, (await stat(join(ws.dir, 'raw', `${f.id}.edwr`))).mtimeMs / 1000);
  }
});

test.serial('what periods did we throw out, and why: the power cut, who set it, and its files', async (t) => {
  const {cfg, cut} = t.context;
  const report = await json<ProvenanceReport>(...cfg, 'provenance', '--run', 'ma22a000', '--json');
  t.is(report.periods.length, 1);
  t.like(report.periods[0], {name: 'power-cut', kind: 'exclude', reason: 'power cut in the cryostat hall'});
  t.regex(report.periods[0]!.by, /@/);
  t.deepEqual(report.periods[0]!.files_in_force, cut);
});

test.serial('the power went off during these periods: period show names the files kept out, and no step ran on them', async (t) => {
  const {cfg, cut} = t.context;
  const shown = await json<{period: PeriodDoc; files: Array<{id: string; in_force: boolean}>}>(...cfg, 'period', 'show', 'power-cut', '--json');
  t.deepEqual(shown.files.map((f) => [f.id, f.in_force]), cut.map((id) => [id, true]));
  for (const id of cut) t.deepEqual((await json<DataFileDoc>(...cfg, 'show', id, '--json')).process, []);
  const status = await json<{rows: Record<string, {excluded: number}>}>(...cfg, 'status', '--json');
  t.is(status.rows.new!.excluded, 2);
});

test.serial('what selection criteria did we use: the selection as it is, and as it was before (append-only versions)', async (t) => {
  const {cfg, ids, selectionSavedAt} = t.context;
  const now = await json<{version: SelectionVersion; versions: number}>(...cfg, 'selection', 'show', 'golden', '--json');
  t.is(now.versions, 2);
  t.like(now.version, {version: 2, asked: {run: ['ma22a000']}, reason: 'the whole run for the paper'});
  t.deepEqual(now.version.ids, ids);
  const then = await json<{version: SelectionVersion}>(...cfg, 'selection', 'show', 'golden', '--at', String(selectionSavedAt), '--json');
  t.like(then.version, {version: 1, asked: {ids: ['ma22a000_000', 'ma22a000_001']}, reason: 'first look'});
  const report = await json<ProvenanceReport>(...cfg, 'provenance', '--selection', 'golden', '--json');
  t.deepEqual(report.selection, {selection: 'golden', documents: 6});
});

test.serial('how did we process the data: each step with its versions and the settings it ran with', async (t) => {
  const {cfg, ws, ids, cut} = t.context;
  const report = await json<ProvenanceReport>(...cfg, 'provenance', '--selection', 'golden', '--json');
  const runs = Object.fromEntries(report.code.map((c) => [`${c.step} v${c.version}`, c.runs]));
  const n = ids.length - cut.length;
  t.deepEqual(runs, {'move_to_sps v1': n, 'signal_processing v1': n, 'signal_processing v2': n, 'ingest_detections v1': 2 * n, 'stats v1': 2 * n});
  const sp = report.code.find((c) => c.step === 'signal_processing' && c.version === '2')!;
  t.like(sp.settings[0], {kind: 'signal_processing', version: '2', output_dir: join(ws.dir, 'processed')});
});

test.serial('what code did we use to process and to reconstruct: the edw release of the built-in steps, per version', async (t) => {
  const {cfg} = t.context;
  const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as {version: string};
  const report = await json<ProvenanceReport>(...cfg, 'provenance', '--selection', 'golden', '--json');
  for (const step of ['signal_processing', 'ingest_detections']) {
    const uses = report.code.filter((c) => c.step === step);
    t.true(uses.length > 0);
    for (const use of uses) t.deepEqual(use.codes, [{builtin: `edw ${pkg.version}`}], `${step} v${use.version}`);
  }
});

test.serial('where is the code for the statistical analysis, and which version of it: its file, md5 and git commit', async (t) => {
  const {cfg, statsFile, commit} = t.context;
  const report = await json<ProvenanceReport>(...cfg, 'provenance', '--query', 'q1', '--json');
  const stats = report.code.find((c) => c.step === 'stats')!;
  t.deepEqual(stats.codes, [{file: statsFile, md5: await md5File(statsFile), git: {commit, dirty: false}}]);
  t.deepEqual(report.files.map((f) => f.id), ['ma22a000_000', 'ma22a000_004'], 'the saved query\'s documents');
  const missing = await edw(...cfg, 'provenance', '--query', 'nope');
  t.is(missing.code, 1);
  t.deepEqual(missing.err, ['edw: no query nope (run \'edw query ...\' first)']);
});

test.serial('where did we put the intermediate files: both versions\' results, each recorded with its md5 and still there', async (t) => {
  const {cfg, ws} = t.context;
  const report = await json<ProvenanceReport>(...cfg, 'provenance', '--selection', 'golden', '--json');
  const pulses = report.intermediates.filter((i) => i.step === 'signal_processing');
  t.deepEqual(pulses.map((p) => p.path).sort(), processed(t.context).flatMap((id) => [1, 2].map((v) => join(ws.dir, 'processed', 'ma22a000', `${id}.v${v}.pulses.jsonl`))).sort());
  for (const p of pulses) t.is(await md5File(p.path), p.md5 ?? '');
});

test.serial('in what ways has this data been transformed, by whom and by what: the lineage of a file, and the reprocessing asked', async (t) => {
  const {cfg, ws, reprocessed} = t.context;
  const l = await json<Lineage>(...cfg, 'lineage', 'ma22a000_004', '--json');
  t.deepEqual(l.forward.map((e) => `${e.step} v${e.version} epoch ${e.epoch}`), [
    'move_to_sps v1 epoch 0', 'signal_processing v1 epoch 0', 'ingest_detections v1 epoch 0', 'stats v1 epoch 0',
    'signal_processing v2 epoch 1', 'ingest_detections v1 epoch 1', 'stats v1 epoch 1',
  ]);
  for (const e of l.forward) t.like(e, {host: hostname(), user: userInfo().username});
  t.is(l.forward[4]!.inputs[0]!.path, join(ws.dir, 'sps', 'ma22a000', 'ma22a000_004.edwr'), 'v2 read the transferred copy');
  const report = await json<ProvenanceReport>(...cfg, 'provenance', 'ma22a000_004', '--json');
  t.is(report.reprocessings.length, 1);
  t.like(report.reprocessings[0], {id: reprocessed._id.slice('reprocess:'.length), step: 'signal_processing', version: '2', reason: 'baseline fit corrected'});
  t.regex(report.reprocessings[0]!.by, /@/);
  t.deepEqual(reprocessed.marked, processed(t.context));
  t.deepEqual(reprocessed.skipped.map((s) => s.id), t.context.cut, 'the excluded files had not reached signal_processing');
});

test.serial('how do I associate an event of a later level with an earlier one: a detection\'s lineage reaches its pulses and raw file md5, reading two documents', async (t) => {
  const {cfg, ws} = t.context;
  const raw = join(ws.dir, 'raw', 'ma22a000_004.edwr');
  const pulsesV2 = join(ws.dir, 'processed', 'ma22a000', 'ma22a000_004.v2.pulses.jsonl');
  const lines = (await readFile(pulsesV2, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as {trace: number; amplitude: number; detected: boolean});
  const pulse = lines.find((p) => p.detected && p.amplitude >= 50)!;
  const id = `detection:ma22a000_004:${String(pulse.trace).padStart(6, '0')}:2.1`;
  const l = await json<Lineage>(...cfg, 'lineage', id, '--json');
  t.is(l.documents_read, 2);
  t.is(l.detection!.amplitude, pulse.amplitude);
  t.deepEqual(l.back.map((e) => `${e.step} v${e.version}`), ['move_to_sps v1', 'signal_processing v2', 'ingest_detections v1']);
  t.deepEqual(l.back[0]!.inputs[0], {path: raw, md5: await md5File(raw), bytes: (await stat(raw)).size});
  t.is(l.back[1]!.outputs[0]!.path, pulsesV2);
  t.is(l.back[2]!.inputs[0]!.md5, await md5File(pulsesV2));
  // And back down: from the pulses file to what was made from it.
  const down = await json<Lineage>(...cfg, 'lineage', pulsesV2, '--json');
  t.deepEqual(down.forward.map((e) => `${e.step} epoch ${e.epoch}`), ['ingest_detections epoch 1', 'stats epoch 1']);
  t.true(down.detections!.some((d) => d.versions === '2.1' && d.count > 0) && down.detections!.some((d) => d.versions === '1.1'));
  const text = await edw(...cfg, 'lineage', id);
  t.is(text.code, 0);
  const rawMd5 = await md5File(raw);
  t.true(text.out.some((line) => line.includes(rawMd5)));
});

test.serial('after the reprocessing every entry of the first processing is unchanged, the stage and status follow the new version, and both outputs exist', async (t) => {
  const {cfg, first} = t.context;
  for (const id of processed(t.context)) {
    const doc = await json<DataFileDoc>(...cfg, 'show', id, '--json');
    t.deepEqual(doc.process.slice(0, first.get(id)!.length), first.get(id), `${id}: first processing kept as it was`);
    t.is(doc.process.length, first.get(id)!.length + 3);
    t.deepEqual(doc.reprocess!.map((m) => m.version), ['2']);
  }
  const status = await json<{stages: Record<string, number>; versions: Record<string, {configured: string; current: number; older: Record<string, number>}>}>(...cfg, 'status', '--versions', '--json');
  t.is(status.stages.stats, 4);
  t.deepEqual(status.versions.signal_processing, {configured: '2', current: 4, older: {}});
  const text = await edw(...cfg, 'status', '--versions');
  t.true(text.out.includes('signal_processing: 4 current (v2)'));
});

test.serial('reprocess refuses a version edw.ini does not configure and an unknown query, changing nothing', async (t) => {
  const {cfg} = t.context;
  const before = await json<DataFileDoc>(...cfg, 'show', 'ma22a000_000', '--json');
  const wrong = await edw(...cfg, 'reprocess', '--step', 'signal_processing', '--version', '3', '--run', 'ma22a000', '--reason', 'x');
  t.is(wrong.code, 2);
  t.regex(wrong.err[0]!, /^edw: --version 3: step signal_processing is configured at version 2/);
  const query = await edw(...cfg, 'reprocess', '--step', 'signal_processing', '--query', 'nope', '--reason', 'x');
  t.is(query.code, 1);
  t.deepEqual(query.err, ['edw: no query nope (run \'edw query ...\' first)']);
  const two = await edw(...cfg, 'reprocess', '--step', 'signal_processing', '--run', 'ma22a000', '--period', 'power-cut', '--reason', 'x');
  t.is(two.code, 2);
  t.deepEqual((await json<DataFileDoc>(...cfg, 'show', 'ma22a000_000', '--json'))._rev, before._rev);
});

test.serial('the RO-Crate has the RO-Crate 1.1 metadata descriptor, a root dataset, and every file with its md5', async (t) => {
  const {cfg, ws} = t.context;
  const out = join(ws.dir, 'ro-crate-metadata.json');
  await must(...cfg, 'provenance', '--run', 'ma22a000', '--format', 'ro-crate', '--out', out);
  const crate = JSON.parse(await readFile(out, 'utf8')) as {'@context': unknown[]; '@graph': Array<Record<string, unknown>>};
  t.is(crate['@context'][0], 'https://w3id.org/ro/crate/1.1/context');
  const byId = new Map(crate['@graph'].map((e) => [e['@id'] as string, e]));
  t.deepEqual(byId.get('ro-crate-metadata.json'), {'@id': 'ro-crate-metadata.json', '@type': 'CreativeWork', conformsTo: {'@id': 'https://w3id.org/ro/crate/1.1'}, about: {'@id': './'}});
  const root = byId.get('./')!;
  t.is(root['@type'], 'Dataset');
  t.truthy(root.name);
  t.truthy(root.datePublished);
  const files = crate['@graph'].filter((e) => e['@type'] === 'File');
  t.deepEqual((root.hasPart as Array<{'@id': string}>).map((p) => p['@id']).sort(), files.map((f) => f['@id'] as string).sort());
  for (const f of files) t.regex(String(f.md5), /^[0-9a-f]{32}$/, `${String(f['@id'])} has its md5`);
  const report = await json<ProvenanceReport>(...cfg, 'provenance', '--run', 'ma22a000', '--json');
  const paths = new Set(report.files.flatMap((f) => [...f.copies.map((c) => c.path), ...f.history.flatMap((e) => [...e.inputs, ...e.outputs].map((o) => o.path))]));
  for (const path of paths) t.truthy(byId.get(`file://${path}`), `${path} is in the crate`);
  for (const f of files) t.is(await md5File(fileURLToPath(f['@id'] as string)), String(f.md5), `${String(f['@id'])}: the md5 is the file's`);
  const actions = crate['@graph'].filter((e) => e['@type'] === 'CreateAction');
  t.is(actions.length, 4 * 7);
});
