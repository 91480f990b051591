import test from 'ava';
import {parse} from 'acorn';
import {compileDesignDocs, designFunctions, DESIGN_DOCS_DIR, diffDesignDoc, type DesignDoc} from '../lib/design/index.js';
import {stageOf, viewStateOf, type DataFileDoc} from '../lib/pipeline/index.js';

const [design] = (await compileDesignDocs(DESIGN_DOCS_DIR)) as [DesignDoc];

/** Compile a design function the way a CouchDB JavaScript engine would: one function expression. */
function compile(source: string, emit?: (key: unknown, value: unknown) => void): (...args: unknown[]) => unknown {
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function('emit', `return (${source});`)(emit) as (...args: unknown[]) => unknown;
}

function emitted(doc: unknown, view: string): Array<[unknown, unknown]> {
  const rows: Array<[unknown, unknown]> = [];
  compile(design.views![view]!.map, (k, v) => rows.push([k, v]))(doc);
  return rows;
}

const nonAdmin = {name: 'daq', roles: ['writer']};

function validate(newDoc: unknown, oldDoc: unknown): string | undefined {
  try {
    compile(design.validate_doc_update!)(newDoc, oldDoc, nonAdmin, {});
    return undefined;
  } catch (error) {
    return (error as {forbidden?: string}).forbidden ?? String(error);
  }
}

const seedDoc = {
  _id: 'ma22a000_000', status: 'good', md5sum: '977f5c2288038a593d04eb35b08670b2', run: 'ma22a000', datecreated: 1378222673.477208,
  process: [{name: 'move_to_sps', hostname: 'daq1', file: '/sps/ma22a000_000.root', md5sum: 'x', log: 'ok'}],
  conditions: {temperature: 0.0158, volts: {detector_a: [8, -8, 2, -2]}}, original_file: '/mnt/data/ma22a000_000.root',
};

test('every design function parses as ES5, so every CouchDB JavaScript engine runs it', (t) => {
  const functions = designFunctions(design).filter(([, source]) => !source.startsWith('_'));
  t.true(functions.length >= 5);
  for (const [path, source] of functions) {
    t.notThrows(() => parse(`(${source})`, {ecmaVersion: 5}), path);
  }
});

test('an ES5 parser rejects ES2015 syntax, so the check above can fail', (t) => {
  t.throws(() => parse('(function (doc) { const x = () => 1; })', {ecmaVersion: 5}));
});

test('the stage view keys a document by the same stage as the pipeline module', (t) => {
  const docs: DataFileDoc[] = [
    {_id: 'a', status: 'good', process: []},
    seedDoc as DataFileDoc,
    {_id: 'b', status: 'good', process: [{name: 'move_to_sps', status: 'done'}, {name: 'signal_processing', status: 'failed'}]},
    {_id: 'c', status: 'good', process: [{name: 'move_to_sps', status: 'done'}, {name: 'signal_processing', status: 'done'}]},
  ];
  for (const doc of docs) {
    const rows = emitted(doc, 'stage');
    t.is(rows.length, 1);
    t.deepEqual(rows[0]![0], [stageOf(doc), 'ready', doc._id], doc._id);
  }
});

test('the stage view marks bad, failed and retrying documents in the key', (t) => {
  t.deepEqual(emitted({...seedDoc, status: 'bad'}, 'stage')[0]![0], ['move_to_sps', 'bad', seedDoc._id]);
  t.deepEqual(emitted({...seedDoc, edw: {failed: {step: 'signal_processing'}}}, 'stage')[0], [['move_to_sps', 'failed', seedDoc._id], 'signal_processing']);
  t.deepEqual(emitted({...seedDoc, edw: {retry: {step: 'signal_processing', next: 5}}}, 'stage')[0], [['move_to_sps', 'retry', seedDoc._id], 5]);
  t.is(emitted({_id: 'det', type: 'detection', time: 1}, 'stage').length, 0);
  for (const doc of [{...seedDoc, status: 'bad'}, {...seedDoc, edw: {failed: {step: 's'}}}, {...seedDoc, edw: {retry: {step: 's', next: 5}}}, seedDoc]) {
    t.is((emitted(doc, 'stage')[0]![0] as string[])[1], viewStateOf(doc as DataFileDoc), 'viewStateOf follows the view');
  }
});

test('the stages filter passes good documents at one of the asked stages only', (t) => {
  const filter = compile(design.filters!.stages!);
  const asked = (...stages: string[]) => ({query: {stages: `,${stages.join(',')},`}});
  t.true(filter(seedDoc, asked('move_to_sps')) as boolean);
  t.true(filter(seedDoc, asked('new', 'move_to_sps')) as boolean);
  t.false(filter(seedDoc, asked('new', 'signal_processing')) as boolean);
  t.false(filter(seedDoc, asked()) as boolean);
  t.false(filter({...seedDoc, status: 'bad'}, asked('move_to_sps')) as boolean);
  t.false(filter({_id: 'x', _deleted: true}, asked('new')) as boolean);
  t.false(filter({_id: 'det', type: 'detection', time: 1}, asked('new')) as boolean);
});

test('validate_doc_update lets a non-admin append to process and write the seed shape', (t) => {
  t.is(validate(seedDoc, undefined), undefined);
  const appended = {...seedDoc, process: [...seedDoc.process, {name: 'signal_processing', status: 'done'}]};
  t.is(validate(appended, seedDoc), undefined);
});

test('validate_doc_update refuses a changed or removed process entry, naming it and the document', (t) => {
  const changed = {...seedDoc, process: [{...seedDoc.process[0], file: '/elsewhere'}]};
  t.regex(validate(changed, seedDoc) ?? '', /append-only: entry 0 .*ma22a000_000/);
  t.regex(validate({...seedDoc, process: []}, seedDoc) ?? '', /append-only/);
  const {process: _p, ...withoutProcess} = seedDoc;
  t.regex(validate(withoutProcess, seedDoc) ?? '', /cannot be removed/);
});

test('validate_doc_update allows starting again only when the old history is kept in previous', (t) => {
  const replaced = {...seedDoc, md5sum: 'new', process: [], previous: [{md5sum: seedDoc.md5sum, process: seedDoc.process}]};
  t.is(validate(replaced, seedDoc), undefined);
  const lostHistory = {...replaced, previous: [{md5sum: seedDoc.md5sum, process: []}]};
  t.regex(validate(lostHistory, seedDoc) ?? '', /append-only/);
});

test('validate_doc_update allows adding a superseded mark to a completed entry, and no other change to it', (t) => {
  const entry = (host: string, finished: string) => ({name: 'move_to_sps', status: 'done', version: '1', host, started: finished, finished, attempt: 1});
  const a = entry('a', '2026-01-01T00:00:01.000Z');
  const b = entry('b', '2026-01-01T00:00:02.000Z');
  const mark = {by: {finished: a.finished, started: a.started, host: 'a', attempt: 1}};
  const before = {...seedDoc, process: [a, b]};
  const marked = {...seedDoc, process: [a, {...b, superseded: mark}]};
  t.is(validate(marked, before), undefined, 'a mark added');
  t.is(validate({...seedDoc, process: [{...b, superseded: mark}, a]}, before), undefined, 'a mark added in a merge that reorders');
  t.is(validate(marked, marked), undefined, 'a mark kept');
  t.regex(validate(before, marked) ?? '', /append-only: entry 1 /, 'a mark removed');
  t.regex(validate({...marked, process: [a, {...b, superseded: {by: {host: 'c'}}}]}, marked) ?? '', /append-only: entry 1 /, 'a mark changed');
  t.regex(validate({...marked, process: [a, {...b, host: 'c', superseded: mark}]}, before) ?? '', /append-only: entry 1 /, 'a mark added with another change');
  t.regex(validate({...seedDoc, process: [a, {...b, status: 'failed', superseded: mark}]}, undefined) ?? '', /entry 1 is marked superseded but is not done/);
  t.regex(validate({...seedDoc, process: [a, {...b, superseded: true}]}, undefined) ?? '', /entry 1 has superseded true, expected \{by/);
  // Two equal entries, one marked since: the unchanged one is matched first, so both are kept.
  t.is(validate({...seedDoc, process: [{...b, superseded: mark}, b, a]}, {...seedDoc, process: [b, {...b, superseded: mark}, a]}), undefined);
});

test('validate_doc_update refuses entries without a name or with an unknown status', (t) => {
  t.regex(validate({...seedDoc, process: [{status: 'done'}]}, undefined) ?? '', /entry 0 needs a name/);
  t.regex(validate({...seedDoc, process: [{name: 'x', status: 'maybe'}]}, undefined) ?? '', /status maybe/);
  t.regex(validate({...seedDoc, process: 'none'}, undefined) ?? '', /must be an array/);
  t.regex(validate({_id: 'd', type: 'detection', source: 'x'}, undefined) ?? '', /numeric time/);
});

test('a design doc diff names added, changed and removed functions', (t) => {
  const current: DesignDoc = {...design, views: {...design.views, old: {map: 'function (doc) {}'}, stage: {...design.views!.stage!, map: 'function (doc) { emit(1); }'}}};
  delete current.filters;
  const change = diffDesignDoc(design, current);
  t.is(change.action, 'updated');
  t.deepEqual(change.changed, ['views.stage.map']);
  t.deepEqual(change.removed, ['views.old.map']);
  t.deepEqual(change.added, ['filters.stages']);
  t.is(diffDesignDoc(design, design).action, 'unchanged');
});

test("the provenance design document is left out of CouchDB's background indexing, and a database whose copy lacks that is given it", async (t) => {
  const docs = await compileDesignDocs(DESIGN_DOCS_DIR);
  const provenance = docs.find((d) => d._id === '_design/edw-provenance')!;
  const main = docs.find((d) => d._id === '_design/edw')!;
  t.is(provenance.autoupdate, false);
  t.is(main.autoupdate, undefined, 'the stage view stays warm: listeners query it');
  const {autoupdate: _, ...older} = provenance;
  t.deepEqual(diffDesignDoc(provenance, older).added, ['autoupdate']);
  t.is(diffDesignDoc(provenance, provenance).action, 'unchanged');
});
