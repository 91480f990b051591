import {readFile} from 'node:fs/promises';
import {join} from 'node:path';
import test from 'ava';
import {DESIGN_DOCS_DIR} from '../lib/design/index.js';
import {
  completedEntry, compareCompletions, hasCompleted, inputOf, markSuperseded, mergeRevisions, recordOf, stageOf,
  type DataFileDoc, type ProcessEntry,
} from '../lib/pipeline/index.js';
import {hasEntry, withClaim, withEntry} from '../lib/runtime/claim.js';

const at = (s: number): string => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
const done = (name: string, finished: number, more: Partial<ProcessEntry> = {}): ProcessEntry =>
  ({name, status: 'done', started: at(finished - 1), finished: at(finished), host: 'h', version: '1', attempt: 1, ...more});
const docOf = (process: ProcessEntry[], rev = '1-x'): DataFileDoc => ({_id: 'd', _rev: rev, status: 'good', process});
const unmarked = (process: ProcessEntry[]): ProcessEntry[] => process.filter((e) => !e.superseded);

/** Every permutation of a short list. */
function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}

/** The design doc's stage function, as the views and the stages filter inline it. */
async function designStage(): Promise<(doc: DataFileDoc) => string> {
  const source = await readFile(join(DESIGN_DOCS_DIR, 'edw', 'lib', 'stage.js'), 'utf8');
  return new Function(`${source}\nreturn edwStage;`)() as (doc: DataFileDoc) => string;
}

test('of two completions of one step and version the earliest finished is the record, the other marked superseded by it', (t) => {
  const record = done('move_to_sps', 5, {host: 'b', token: 3});
  const later = done('move_to_sps', 7, {host: 'a', token: 3});
  const process = markSuperseded([later, record]);
  t.deepEqual(process[0], {...later, superseded: {by: {finished: at(5), started: at(4), host: 'b', attempt: 1, token: 3}}});
  t.is(process[1], record, 'the record is left as it is');
  t.is(recordOf(process, 'move_to_sps', '1'), record);
});

test('ties in finished are broken by started, host, claim token, attempt, then the entry itself', (t) => {
  const base = done('s', 5);
  const pairs: Array<[ProcessEntry, ProcessEntry, string]> = [
    [{...base, started: at(1)}, {...base, started: at(2)}, 'started'],
    [{...base, host: 'alpha'}, {...base, host: 'beta'}, 'host'],
    [{...base, token: 2}, {...base, token: 10}, 'token (as a number)'],
    [{...base, token: 2}, base, 'an entry with a token before one without'],
    [{...base, attempt: 1}, {...base, attempt: 2}, 'attempt'],
    [{...base, result: {n: 1}}, {...base, result: {n: 2}}, 'canonical JSON'],
  ];
  for (const [first, second, what] of pairs) {
    t.true(compareCompletions(first, second) < 0, what);
    t.true(compareCompletions(second, first) > 0, what);
    for (const order of [[first, second], [second, first]]) t.is(recordOf(markSuperseded(order), 's', '1'), first, what);
  }
  t.is(compareCompletions({...base, result: {a: 1, b: 2}}, {...base, result: {b: 2, a: 1}}), 0, 'key order does not matter');
  t.is(compareCompletions(base, {...base, superseded: {by: {finished: at(1)}}}), 0, 'the mark does not matter');
});

test('marking leaves everything else alone and is idempotent', (t) => {
  const process: ProcessEntry[] = [
    {name: 'seed', file: '/f'}, {name: 'seed', file: '/f'},
    {...done('s', 1), status: 'failed', error: {message: 'x', retryable: true}},
    done('s', 2), done('s', 3, {version: '2'}), done('t', 4),
  ];
  t.is(markSuperseded(process), process, 'one completion per step and version: nothing to mark, the same array');
  const twice = [...process, done('s', 6), done('s', 5)];
  const once = markSuperseded(twice);
  t.deepEqual(once.slice(0, process.length), process);
  t.deepEqual(once.map((e) => !!e.superseded), [false, false, false, false, false, false, true, true]);
  t.deepEqual(once[6]!.superseded, {by: {finished: at(2), started: at(1), host: 'h', attempt: 1}});
  t.deepEqual(markSuperseded(once), once);
  t.is(markSuperseded(once), once, 'already marked: the same array');
});

test('an earlier completion arriving later marks the former record, whose own marks stay as they are', (t) => {
  const a = done('s', 5, {host: 'a'});
  const b = done('s', 7, {host: 'b'});
  const c = done('s', 3, {host: 'c'});
  const first = markSuperseded([a, b]);
  t.is(first[1]!.superseded?.by.host, 'a');
  const chain = markSuperseded([...first, c]);
  t.is(chain[1], first[1], 'b keeps its mark by a');
  t.is(chain[0]!.superseded?.by.host, 'c', 'a, the former record, is now marked by c');
  t.deepEqual(unmarked(chain), [c], 'exactly one completion of record');
  t.is(recordOf(chain, 's', '1'), c);
});

test('a merge marks the same record whichever revision wins and whatever order the losers come in', (t) => {
  const shared = done('move_to_sps', 1, {host: 'daq'});
  const branches: DataFileDoc[] = [
    docOf([shared, done('signal_processing', 9, {host: 'x', token: 4})], '3-aaa'),
    docOf([shared, done('signal_processing', 6, {host: 'y', token: 4})], '3-bbb'),
    docOf([shared, done('signal_processing', 6, {host: 'z', token: 4}), {...done('signal_processing', 8), status: 'failed'}], '3-ccc'),
  ];
  const results = permutations(branches).map(([winner, ...losers]) => mergeRevisions(winner!, losers));
  const canonical = (doc: DataFileDoc): string[] => doc.process.map((e) => JSON.stringify(e, Object.keys(e).sort())).sort();
  for (const merged of results) {
    t.deepEqual(canonical(merged), canonical(results[0]!), 'the same entries and marks');
    t.is(recordOf(merged.process, 'signal_processing', '1')?.host, 'y', 'the earliest finished, then host');
    t.deepEqual(unmarked(merged.process).map((e) => e.host), ['daq', 'y', 'h'], 'the shared entry, the record, the failed attempt');
    t.deepEqual(merged.process.filter((e) => e.superseded).map((e) => [e.host, e.superseded!.by.host]).sort(), [['x', 'y'], ['z', 'y']]);
    t.is(stageOf(merged), 'signal_processing');
    t.is(completedEntry(merged, 'signal_processing')?.host, 'y');
  }
});

test('entries equal but for the mark are one entry in a merge, kept with the mark', (t) => {
  const a = done('s', 5, {host: 'a'});
  const b = done('s', 7, {host: 'b'});
  const markedB = markSuperseded([a, b])[1]!;
  const plain = docOf([a, b], '4-aaa');
  const withMark = docOf([a, markedB], '4-bbb');
  for (const [winner, loser] of [[plain, withMark], [withMark, plain]] as const) {
    const merged = mergeRevisions(winner, [loser]);
    t.deepEqual(merged.process, [a, markedB]);
  }
});

test('a merge keeps the winner\'s mark, and an even earlier completion on a loser marks the former record', (t) => {
  const a = done('s', 5, {host: 'a'});
  const b = done('s', 7, {host: 'b'});
  const c = done('s', 3, {host: 'c'});
  const winner = docOf(markSuperseded([a, b]), '5-aaa');
  // The loser saw b and c but not a: it marked b by c.
  const loser = docOf(markSuperseded([c, b]), '5-bbb');
  const merged = mergeRevisions(winner, [loser]);
  const byHost = new Map(merged.process.map((e) => [e.host, e]));
  t.is(byHost.get('b')!.superseded?.by.host, 'a', 'the winner\'s mark is kept');
  t.is(byHost.get('a')!.superseded?.by.host, 'c', 'the former record is marked by the earlier one');
  t.is(byHost.get('c')!.superseded, undefined);
  t.deepEqual(unmarked(merged.process), [c]);
  t.is(merged.process.length, 3, 'b once, not twice');
  for (const e of winner.process) t.true(merged.process.some((m) => JSON.stringify(m) === JSON.stringify(e) || JSON.stringify({...m, superseded: undefined}) === JSON.stringify(e)), 'every entry of the winner kept, at most marked');
});

test('the stage counts completions of record: a re-execution merged from a stale branch does not move it back', async (t) => {
  const a = done('move_to_sps', 1);
  const b = done('signal_processing', 2);
  const again = done('move_to_sps', 3, {host: 'stale'});
  const merged = mergeRevisions(docOf([a, b], '3-aaa'), [docOf([again], '2-bbb')]);
  t.deepEqual(merged.process.map((e) => e.host), ['h', 'h', 'stale']);
  t.truthy(merged.process[2]!.superseded);
  t.is(stageOf(merged), 'signal_processing');
  t.is((await designStage())(merged), 'signal_processing', 'the design doc\'s stage agrees');
  t.is(stageOf(docOf([a, b, again])), 'move_to_sps', 'unmarked, it would have moved the stage back');
  const sameWinnerSwapped = mergeRevisions(docOf([again], '3-bbb'), [docOf([a, b], '2-aaa')]);
  t.is(stageOf(sameWinnerSwapped), 'signal_processing', 'whichever revision wins');
});

test('a step\'s input is its predecessor\'s completion of record; a superseded completion still counts as done for readiness', (t) => {
  const out = (path: string) => ({outputs: [{path, bytes: 1, md5: 'm'}]});
  const process = markSuperseded([done('move_to_sps', 2, {result: out('/first')}), done('move_to_sps', 1, {result: out('/record')})]);
  const doc = docOf(process);
  t.is(completedEntry(doc, 'move_to_sps')?.finished, at(1));
  t.is(inputOf(doc, 'move_to_sps'), '/record');
  t.true(hasCompleted(docOf([{...done('s', 1), superseded: {by: {finished: at(0)}}}]), 's', '1'));
});

test('the result write stamps the claim token and marks a second completion it meets; hasEntry finds the entry after a mark', (t) => {
  const now = Date.UTC(2026, 0, 1);
  const spec = {step: 's', version: '1', owner: 'me', host: 'h', pid: 1, leaseMs: 60_000, now};
  // A completion that arrived by a merge while this listener held its claim.
  const earlier = done('s', 1, {host: 'elsewhere'});
  const {doc, claim} = withClaim(docOf([earlier]), spec);
  const mine = done('s', 9);
  const written = withEntry(doc, claim.token, 'me', mine, {kind: 'done'});
  t.deepEqual(written.process[0], earlier);
  t.deepEqual(written.process[1], {...mine, token: claim.token, superseded: {by: {finished: at(1), started: at(0), host: 'elsewhere', attempt: 1}}});
  t.true(hasEntry(written, mine, claim.token));
  t.false(hasEntry(written, mine, claim.token + 1));
  const alone = withEntry(withClaim(docOf([]), spec).doc, claim.token, 'me', mine, {kind: 'done'});
  t.deepEqual(alone.process, [{...mine, token: claim.token}]);
});

test('the design doc\'s stage function agrees with stageOf', async (t) => {
  const edwStage = await designStage();
  const cases: ProcessEntry[][] = [
    [], [{name: 'seed'}], [done('a', 1), {...done('b', 2), status: 'failed'}],
    [done('a', 1), {...done('b', 2), superseded: {by: {finished: at(0)}}}], [{...done('a', 1), superseded: {by: {}}}],
  ];
  for (const process of cases) t.is(edwStage(docOf(process)), stageOf(docOf(process)), JSON.stringify(process));
});

test('after a reprocessing mark the stage is the stage before the step, then the new epoch\'s completions; both rules agree', async (t) => {
  const edwStage = await designStage();
  const mark = {id: 'r1', step: 'b', after: 'a', version: '2', reason: 'x', at: at(3), by: 'u@h'};
  const cases: Array<[ProcessEntry[], string]> = [
    [[done('a', 1), done('b', 2), done('c', 3)], 'a'],
    [[done('a', 1), done('b', 2), done('c', 3), {...done('b', 4), epoch: 1}], 'b'],
    // A step claimed before the mark finishes after it: its entry is of epoch 0 and does not count.
    [[done('a', 1), done('b', 2), done('c', 5), {...done('b', 6), epoch: 1}], 'b'],
    [[done('a', 1), done('b', 2), done('c', 3), {...done('b', 4), epoch: 1}, {...done('c', 5), epoch: 1}], 'c'],
  ];
  for (const [process, stage] of cases) {
    const doc = {...docOf(process), reprocess: [mark]};
    t.is(stageOf(doc), stage, JSON.stringify(process));
    t.is(edwStage(doc), stage, JSON.stringify(process));
  }
  // Two completions of one step and version in different epochs are both of record.
  const process = markSuperseded([done('b', 2), {...done('b', 4), epoch: 1}]);
  t.false(process.some((e) => e.superseded));
});

test('a conflict merge keeps every period and reprocessing mark: the winner\'s, then those only a loser holds', (t) => {
  const mark = (period: string, minute: number) => ({period, kind: 'exclude' as const, action: 'add' as const, reason: 'r', at: at(minute), by: 'u@h'});
  const winner = {...docOf([done('a', 1)]), periods: [mark('p1', 1)]};
  const loser = {...docOf([done('a', 1)], '2-y'), periods: [mark('p1', 1), mark('p2', 2)], reprocess: [{id: 'r', step: 'a', after: 'new', version: '2', reason: 'x', at: at(3), by: 'u@h'}]};
  const merged = mergeRevisions(winner, [loser]);
  t.deepEqual(merged.periods, [mark('p1', 1), mark('p2', 2)]);
  t.deepEqual(merged.reprocess!.map((m) => m.id), ['r']);
  t.is(mergeRevisions(docOf([done('a', 1)]), [docOf([done('a', 1)], '2-y')]).periods, undefined);
});

test('a step claimed before a reprocessing mark records an entry of the old epoch: the reprocessing still runs it', async (t) => {
  const {readiness} = await import('../lib/pipeline/index.js');
  const now = Date.UTC(2026, 0, 1);
  const spec = {step: 'c', version: '1', owner: 'me', host: 'h', pid: 1, leaseMs: 60_000, now};
  const mark = {id: 'r1', step: 'b', after: 'a', version: '2', reason: 'x', at: at(3), by: 'u@h'};
  const {doc, claim} = withClaim(docOf([done('a', 1), done('b', 2)]), spec);
  t.is(claim.epoch, undefined);
  const marked: DataFileDoc = {...doc, reprocess: [mark]};
  const written = withEntry(marked, claim.token, 'me', done('c', 5), {kind: 'done'});
  t.is(written.process[2]!.epoch, undefined, 'the entry is of the epoch its claim was taken in');
  t.true(hasEntry(written, done('c', 5), claim.token));
  t.is(stageOf(written), 'a');
  t.like(readiness(written, {name: 'b', after: 'a', version: '2'}, now), {kind: 'run'});
  // Claimed in the new epoch, the entry says so and counts.
  const next = withClaim(written, {...spec, step: 'b', version: '2'});
  t.is(next.claim.epoch, 1);
  const again = withEntry(next.doc, next.claim.token, 'me', {...done('b', 7), version: '2'}, {kind: 'done'});
  t.is(again.process[3]!.epoch, 1);
  t.true(hasEntry(again, {...done('b', 7), version: '2'}, next.claim.token));
  t.is(stageOf(again), 'b');
  t.like(readiness(again, {name: 'b', after: 'a', version: '2'}, now), {kind: 'done'});
});
