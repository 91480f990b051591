import {mkdir, readdir, readFile, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import test from 'ava';
import {statusCounts} from '../lib/inspect/index.js';
import {openStore} from '../lib/store/index.js';
import {edw, spawnEdw} from './helpers/cli.js';
import {workspace} from './helpers/workspace.js';

test('demo --dir refuses a non-empty folder it did not make and deletes nothing in it (exit 2)', async (t) => {
  const ws = await workspace(t);
  const thesis = join(ws.dir, 'thesis');
  await mkdir(join(thesis, 'chapters'), {recursive: true});
  await writeFile(join(thesis, 'thesis.tex'), '\\chapter{Introduction}');
  await writeFile(join(thesis, 'chapters', 'one.tex'), 'one');
  const result = await edw('--config', ws.configPath, 'demo', '--dir', thesis, '--files', '1');
  t.is(result.code, 2);
  t.deepEqual(result.err, [`edw: --dir ${thesis} is not empty and was not made by edw demo (it has no .edw-demo.json): give a new or empty folder, or empty this one yourself`]);
  t.deepEqual((await readdir(thesis)).sort(), ['chapters', 'thesis.tex']);
  t.is(await readFile(join(thesis, 'chapters', 'one.tex'), 'utf8'), 'one');
});

test('demo run again over an earlier demo\'s folder removes only what the demo made', async (t) => {
  const ws = await workspace(t);
  const dir = join(ws.dir, 'demo');
  await mkdir(dir);
  // In separate processes, as a user runs it: in one process PouchDB keeps the view indexes it opened,
  // and would answer the second run from the first run's index.
  const first = spawnEdw(['--config', ws.configPath, 'demo', '--dir', dir, '--files', '3']);
  t.is((await first.exit).code, 0, first.stderr.join('\n'));
  await writeFile(join(dir, 'my-notes.txt'), 'kept');
  const again = spawnEdw(['--config', ws.configPath, 'demo', '--dir', dir, '--files', '2']);
  t.is((await again.exit).code, 0, again.stderr.join('\n'));
  t.is(await readFile(join(dir, 'my-notes.txt'), 'utf8'), 'kept');
  // A fresh database and fresh files: the first run's third file and document are gone.
  t.deepEqual((await readdir(join(dir, 'raw'))).filter((name) => name.endsWith('.edwr')), ['ma22a000_000.edwr', 'ma22a000_001.edwr']);
  const store = await openStore({url: join(dir, 'db', 'edw')});
  t.teardown(() => store.close());
  t.is((await statusCounts(store, [])).total, 2);
  t.deepEqual((await readdir(dir)).sort(), ['.edw-demo.json', 'db', 'my-notes.txt', 'raw', 'signal_processing', 'sps']);
});
