import {execFile} from 'node:child_process';
import {existsSync} from 'node:fs';
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {promisify} from 'node:util';
import test, {type ExecutionContext} from 'ava';
import {loadConfig} from '../lib/config/index.js';
import {ConfigError} from '../lib/errors/index.js';
import {BIN} from './helpers/cli.js';

async function folder(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'edw-config-'));
  t.teardown(() => rm(dir, {recursive: true, force: true}));
  return dir;
}

async function configFile(t: ExecutionContext, text: string): Promise<string> {
  const dir = await folder(t);
  const path = join(dir, 'edw.ini');
  await writeFile(path, text);
  return path;
}

test('without an edw.ini the defaults give the embedded database in ./data/edw and the three-step chain', async (t) => {
  const cwd = await folder(t);
  const config = loadConfig({cwd, env: {}});
  t.is(config.database.url, join(cwd, 'data/edw'));
  t.deepEqual(config.steps.map((s) => [s.name, s.after]), [['move_to_sps', 'new'], ['signal_processing', 'move_to_sps'], ['ingest_detections', 'signal_processing']]);
  t.is(config.register.settleMs, 10_000);
  t.is(config.listen.leaseMs, 30_000);
});

test('relative paths in a config file are relative to that file, not to the working directory', async (t) => {
  const path = await configFile(t, '[database]\nurl = ./db\n[step.copy]\nafter = new\nkind = move_to_sps\ntarget_dir = out\n');
  const config = loadConfig({path, explicit: true, cwd: '/', env: {}});
  t.is(config.database.url, join(path, '..', 'db'));
  t.is(config.steps[0]!.settings.target_dir, join(path, '..', 'out'));
});

test('with --config, the shipped defaults\' relative paths are beside the config file, not in the working directory (cd / && edw --config /srv/edw/edw.ini)', async (t) => {
  const path = await configFile(t, '[log]\nlevel = warn\n');
  const dir = join(path, '..');
  const config = loadConfig({path, explicit: true, cwd: '/', env: {}});
  t.is(config.database.url, join(dir, 'data/edw'));
  const settings = Object.fromEntries(config.steps.map((s) => [s.name, s.settings]));
  t.is(settings.move_to_sps!.target_dir, join(dir, 'data/sps'));
  t.is(settings.signal_processing!.output_dir, join(dir, 'data/processed'));
  t.true(config.steps.every((s) => s.dir === dir), 'a command step would run there too');
});

test('without a config file, relative paths are relative to the working directory; a relative EDW_DB_URL always is', async (t) => {
  const cwd = await folder(t);
  const bare = loadConfig({cwd, env: {}});
  t.is(bare.steps[0]!.settings.target_dir, join(cwd, 'data/sps'));
  t.true(bare.steps.every((s) => s.dir === cwd));
  const path = await configFile(t, '[database]\nurl = ./db\n');
  t.is(loadConfig({path, explicit: true, cwd, env: {EDW_DB_URL: './elsewhere'}}).database.url, join(cwd, 'elsewhere'));
});

test('edw --config run from another working directory (as systemd runs it, from /) uses the database beside the config file', async (t) => {
  const path = await configFile(t, '[log]\nlevel = warn\n');
  const elsewhere = await folder(t);
  // The parent folder is made here: opening an embedded database whose parent is missing is another bug (storage's).
  await mkdir(join(path, '..', 'data'));
  const {stdout} = await promisify(execFile)(process.execPath, [BIN, '--config', path, 'init'], {cwd: elsewhere});
  t.regex(stdout, new RegExp(`created database ${join(path, '..', 'data/edw').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  t.true(existsSync(join(path, '..', 'data/edw')));
  t.false(existsSync(join(elsewhere, 'data')));
});

test('a seed edw.ini with a [Cloudant] section is read as it is, with a note about viewname', async (t) => {
  const path = await configFile(t, '[Cloudant]\nserver = https://me.cloudant.com\ndbname = edwexample\nusername = me\npassword = s3cret\nviewname = _design/process/_view/lastproc\n');
  const config = loadConfig({path, explicit: true, env: {}});
  t.is(config.database.url, 'https://me.cloudant.com/edwexample');
  t.is(config.database.user, 'me');
  t.is(config.database.password, 's3cret');
  t.regex(config.notes[0] ?? '', /viewname is not used/);
});

test('environment variables override the file', async (t) => {
  const path = await configFile(t, '[database]\nurl = http://a:5984/x\n[log]\nlevel = info\n');
  const config = loadConfig({path, explicit: true, env: {EDW_DB_URL: 'http://b:5984/y', EDW_DB_USER: 'u', EDW_DB_PASSWORD: 'p', EDW_LOG_LEVEL: 'debug'}});
  t.is(config.database.url, 'http://b:5984/y');
  t.is(config.database.user, 'u');
  t.is(config.database.password, 'p');
  t.is(config.log.level, 'debug');
});

test('malformed configuration is refused with the file, line or key named', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['[database]\nthis is not a setting\n', /edw\.ini:2: expected \[section\] or key = value/],
    ['[databse]\nurl = x\n', /unknown section \[databse\]/],
    ['[listen]\nleese = 5s\n', /unknown setting leese in \[listen\]/],
    ['[listen]\nlease = 30\n', /\[listen\] lease = 30: expected a duration with its unit/],
    ['[step.a]\nafter = new\nkind = nope\n', /kind = nope is not a built-in step/],
    ['[step.a]\nafter = new\ncommand = ./run.sh\n', /a command step needs a version/],
    ['[step.a]\nafter = new\nkind = move_to_sps\n[step.b]\nafter = new\nkind = move_to_sps\n', /both follow new/],
    ['[step.a]\nafter = nowhere\nkind = move_to_sps\n', /does not lead back to new/],
    ['[register]\nrun_pattern = ([\n', /not a valid regular expression/],
    ['[database]\nurl =\n', /\[database\] url: is empty/],
  ];
  for (const [text, message] of cases) {
    const path = await configFile(t, text);
    const error = t.throws(() => loadConfig({path, explicit: true, env: {}}), {instanceOf: ConfigError});
    t.regex(error!.message, message, text);
    t.is(error!.exitCode, 2);
  }
});

test('a config file named with --config that does not exist is an error; the default one may be absent', async (t) => {
  const dir = await folder(t);
  t.throws(() => loadConfig({path: join(dir, 'missing.ini'), explicit: true, env: {}}), {instanceOf: ConfigError, message: /does not exist/});
  t.notThrows(() => loadConfig({cwd: dir, env: {}}));
});

test('user step sections replace the default chain, with step settings passed through', async (t) => {
  const path = await configFile(t, '[step.fit]\nafter = new\ncommand = ./fit {input} {output_dir}\nversion = 2.1\ntimeout = 90s\nattempts = 5\noutput_dir = fits\n');
  const config = loadConfig({path, explicit: true, env: {}});
  t.is(config.steps.length, 1);
  t.like(config.steps[0], {name: 'fit', command: './fit {input} {output_dir}', version: '2.1', timeoutMs: 90_000, attempts: 5});
  t.is(config.steps[0]!.settings.output_dir, join(path, '..', 'fits'));
});

test('an empty path setting stays empty instead of becoming the config file\'s folder', async (t) => {
  const path = await configFile(t, '[step.copy]\nafter = new\nkind = move_to_sps\ntarget_dir =\n');
  t.is(loadConfig({path, explicit: true, env: {}}).steps[0]!.settings.target_dir, '');
});

test('[serve] trust_proxy: off by default; a list of addresses, CIDRs and range names; a hop count or anything else refused with its key named', async (t) => {
  t.is(loadConfig({cwd: await folder(t), env: {}}).serve.trustProxy, undefined, 'off: X-Forwarded-For is ignored');
  const read = async (value: string) => loadConfig({path: await configFile(t, `[serve]\ntrust_proxy = ${value}\n`), explicit: true, env: {}}).serve.trustProxy;
  const hops = await t.throwsAsync(read('2'), {instanceOf: ConfigError});
  t.regex(hops!.message, /\[serve\] trust_proxy = 2: a hop count would believe any client that connects directly/);
  t.deepEqual(await read('127.0.0.1, 10.0.0.0/8, ::1, fd00::/8, loopback'), ['127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8', 'loopback']);
  t.is(await read('off'), undefined);
  for (const bad of ['true', '10.0.0.0/33', 'proxy.example.org', '10.0.0.1, *']) {
    const error = await t.throwsAsync(read(bad), {instanceOf: ConfigError});
    t.regex(error!.message, /\[serve\] trust_proxy = .*: '.+' is not an address, a CIDR/, bad);
  }
});
