import {execFile} from 'node:child_process';
import {EventEmitter, on} from 'node:events';
import {createHash, randomBytes} from 'node:crypto';
import {existsSync, writeFileSync} from 'node:fs';
import {mkdir, open, readdir, readFile, rm, stat, writeFile} from 'node:fs/promises';
import {createServer, type AddressInfo, type Socket} from 'node:net';
import {join} from 'node:path';
import {Writable} from 'node:stream';
import {promisify} from 'node:util';
import test from 'ava';
import {ConfigError, StepError} from '../lib/errors/index.js';
import {createLogger} from '../lib/log/index.js';
import {checkHostKey, hostKeyName, hostsFieldMatches, parseKnownHosts, ProgressReporter, SftpPool, SftpSession, temporaryName, type ProgressLine, type SftpOptions} from '../lib/transfer/index.js';
import {registerFiles} from '../lib/register/index.js';
import type {Store} from '../lib/store/index.js';
import {stageOf, type DataFileDoc} from '../lib/pipeline/index.js';
import {backends, tempFolder} from './helpers/backends.js';
import {allDataDocs, completions, drain, runner, simulateAndRegister} from './helpers/chain.js';
import {findFreePort} from './helpers/couch-server.js';
import {fingerprintOf, generateKey, startSshd, type Sshd} from './helpers/sshd.js';
import {startTcpProxy} from './helpers/tcp-proxy.js';
import {sftpSettings} from '../listeners/index.js';
import {edw} from './helpers/cli.js';
import {chainIni, workspace} from './helpers/workspace.js';

const run = promisify(execFile);
let sshd: Sshd;

test.before('start sshd', async () => {
  sshd = await startSshd();
});
test.after.always('stop sshd', async () => {
  await sshd?.stop();
});

/** Connection settings for the fixture, with overrides. */
function options(overrides: Partial<SftpOptions> = {}): SftpOptions {
  return {host: sshd.host, port: sshd.port, user: sshd.user, keyFile: sshd.userKeyFile, knownHostsFile: sshd.knownHostsFile, ...overrides};
}

/** A session closed on teardown. */
async function connect(t: {teardown(fn: () => unknown): void}, overrides: Partial<SftpOptions> = {}): Promise<SftpSession> {
  const session = await SftpSession.connect(options(overrides));
  t.teardown(() => session.close());
  return session;
}

async function randomFile(path: string, bytes: number): Promise<{path: string; bytes: number; md5: string}> {
  const data = randomBytes(bytes);
  await writeFile(path, data);
  return {path, bytes, md5: md5Of(data)};
}

function md5Of(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

async function md5OfFile(path: string): Promise<string> {
  return md5Of(await readFile(path));
}

/** The temporary (`.edw-partial`) files in a folder. */
async function partials(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.endsWith('.edw-partial'));
}

/** The StepError a promise rejects with. */
async function stepError(t: {fail(message: string): void}, promise: Promise<unknown>): Promise<StepError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof StepError) return error;
    throw error;
  }
  t.fail('expected a StepError');
  throw new Error('unreachable');
}

/** A logger whose JSON lines are kept, with an emitter that says `line` for each. */
function capturingLogger(): {log: ReturnType<typeof createLogger>; lines: Array<Record<string, unknown>>; seen: EventEmitter} {
  const lines: Array<Record<string, unknown>> = [];
  const seen = new EventEmitter();
  const log = createLogger({level: 'info', format: 'json', stream: new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      seen.emit('line');
      done();
    },
  })});
  return {log, lines, seen};
}

/** A data file of random bytes in the workspace's raw folder, registered; its id is `id`. */
async function bigFile(store: Store, dir: string, id: string, bytes: number): Promise<{path: string; bytes: number; md5: string}> {
  const file = await randomFile(join(dir, 'raw', `${id}.edwr`), bytes);
  const report = await registerFiles({store, paths: [file.path], settleMs: 0});
  if (report.created[0] !== id) throw new Error(`registering ${file.path}: ${JSON.stringify(report)}`);
  return file;
}

/** A known_hosts file naming the fixture's host key for a proxy's port. */
async function proxyKnownHosts(t: Parameters<typeof tempFolder>[0], port: number, server: Sshd = sshd): Promise<string> {
  return knownHosts(t, `[127.0.0.1]:${port} ${server.hostKey.line}\n`);
}

/** A known_hosts file in a temp folder holding `text`. */
async function knownHosts(t: Parameters<typeof tempFolder>[0], text: string): Promise<string> {
  const path = join(await tempFolder(t, 'edw-kh-'), 'known_hosts');
  await writeFile(path, text);
  return path;
}

// ---------------------------------------------------------------- known_hosts rules, without a server

test('known_hosts patterns match as OpenSSH matches them: wildcards, negation, [host]:port only for that port', (t) => {
  t.true(hostsFieldMatches('daq1,daq2', 'daq2'));
  t.true(hostsFieldMatches('*.lab.example', 'daq.lab.example'));
  t.true(hostsFieldMatches('daq?', 'DAQ7'), 'host names compare case-insensitively');
  t.false(hostsFieldMatches('*.lab.example,!bad.lab.example', 'bad.lab.example'), 'a matching negation wins');
  t.false(hostsFieldMatches('!bad.lab.example', 'daq.lab.example'), 'a negation alone matches nothing');
  t.is(hostKeyName('DAQ1', 22), 'daq1');
  t.is(hostKeyName('daq1', 2222), '[daq1]:2222');
  t.true(hostsFieldMatches('[daq1]:2222', hostKeyName('daq1', 2222)));
  t.false(hostsFieldMatches('daq1', hostKeyName('daq1', 2222)), 'a plain entry is for port 22 only');
  t.false(hostsFieldMatches('[daq1]:2222', hostKeyName('daq1', 22)));
});

test('a hashed known_hosts entry matches its host and no other', async (t) => {
  const path = await knownHosts(t, `[daq1]:2222 ${sshd.hostKey.line}\n`);
  await run('ssh-keygen', ['-H', '-f', path]);
  const text = await readFile(path, 'utf8');
  t.regex(text, /^\|1\|[^|]+\|[^ ]+ ssh-ed25519 /);
  const [entry] = parseKnownHosts(text);
  t.true(hostsFieldMatches(entry!.hosts, '[daq1]:2222'));
  t.false(hostsFieldMatches(entry!.hosts, '[daq1]:2223'));
  t.false(hostsFieldMatches(entry!.hosts, 'daq1'));
});

test('a key of another type for a known host is unknown, not changed; a @revoked key is refused; comments and junk are skipped', (t) => {
  const ed25519 = Buffer.from(sshd.hostKey.line.split(' ')[1]!, 'base64');
  const entries = parseKnownHosts([
    '# a comment',
    'this line is not an entry',
    `@cert-authority *.example ${sshd.hostKey.line}`,
    'daq1 ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7',
  ].join('\n'));
  t.is(entries.length, 2);
  t.like(checkHostKey(entries, 'daq1', ed25519), {status: 'unknown', otherTypes: ['ssh-rsa']});
  t.like(checkHostKey(entries, 'x.example', ed25519), {status: 'unknown'}, 'certificate authorities are not host keys');
  const revoked = parseKnownHosts(`daq1 ${sshd.hostKey.line}\n@revoked * ${sshd.hostKey.line}\n`);
  t.like(checkHostKey(revoked, 'daq1', ed25519), {status: 'revoked'});
});

// ---------------------------------------------------------------- transfers against the real sshd

for (const verify of ['read-back', 'command'] as const) {
  test(`a pushed file arrives under its final name with the original's md5 (verify = ${verify})`, async (t) => {
    const dir = await tempFolder(t);
    const file = await randomFile(join(dir, 'run1_000.edwr'), 3 * 1024 * 1024 + 17);
    const session = await connect(t, {verify});
    const remoteDir = join(dir, 'centre', 'run1');
    const phases = new Set<string>();
    const result = await session.push(file.path, remoteDir, 'run1_000.edwr', file, {onProgress: (p) => phases.add(p.phase)});
    const final = join(remoteDir, 'run1_000.edwr');
    t.is(await md5OfFile(final), file.md5);
    t.deepEqual(await partials(remoteDir), []);
    t.like(result, {bytes: file.bytes, md5: file.md5, skipped: false, verified: verify, resumed: false, resumed_from: 0});
    t.like(result.source, {path: file.path});
    t.deepEqual(result.destination, {host: sshd.host, port: sshd.port, path: final});
    t.true(result.seconds > 0 && result.bytes_per_second > 0);
    t.deepEqual([...phases], ['send', 'verify']);
  });
}

test('a pulled file is written under its final name with the original md5', async (t) => {
  const dir = await tempFolder(t);
  const file = await randomFile(join(dir, 'daq-run1_001.edwr'), 2 * 1024 * 1024 + 5);
  const session = await connect(t);
  const result = await session.pull(file.path, join(dir, 'centre', 'run1'), 'run1_001.edwr', file);
  const final = join(dir, 'centre', 'run1', 'run1_001.edwr');
  t.is(await md5OfFile(final), file.md5);
  t.deepEqual(await partials(join(dir, 'centre', 'run1')), []);
  t.like(result, {bytes: file.bytes, md5: file.md5, skipped: false, verified: 'local', resumed: false});
  t.deepEqual(result.source, {host: sshd.host, port: sshd.port, path: file.path});
  t.like(result.destination, {path: final});
});

test('pushing a file that already arrived sends nothing and says so', async (t) => {
  const dir = await tempFolder(t);
  const file = await randomFile(join(dir, 'a.edwr'), 512 * 1024);
  const session = await connect(t);
  await session.push(file.path, join(dir, 'out'), 'a.edwr', file);
  const before = await stat(join(dir, 'out', 'a.edwr'));
  let sent = 0;
  const again = await session.push(file.path, join(dir, 'out'), 'a.edwr', file, {onProgress: (p) => (sent += p.phase === 'send' ? 1 : 0)});
  t.like(again, {skipped: true, bytes: file.bytes, md5: file.md5, bytes_per_second: 0});
  t.is(sent, 0);
  const after = await stat(join(dir, 'out', 'a.edwr'));
  t.is(after.ino, before.ino);
  t.is(after.mtimeMs, before.mtimeMs);
});

test('a destination with the right size but other bytes is replaced, not kept', async (t) => {
  const dir = await tempFolder(t);
  const file = await randomFile(join(dir, 'a.edwr'), 100_000);
  await mkdir(join(dir, 'out'));
  await writeFile(join(dir, 'out', 'a.edwr'), randomBytes(100_000));
  const session = await connect(t);
  const result = await session.push(file.path, join(dir, 'out'), 'a.edwr', file);
  t.false(result.skipped);
  t.is(await md5OfFile(join(dir, 'out', 'a.edwr')), file.md5);
});

test('pulling a file that is already there fetches nothing and says so', async (t) => {
  const dir = await tempFolder(t);
  const file = await randomFile(join(dir, 'a.edwr'), 256 * 1024);
  const session = await connect(t);
  await session.pull(file.path, join(dir, 'in'), 'a.edwr', file);
  const again = await session.pull(file.path, join(dir, 'in'), 'a.edwr', file);
  t.like(again, {skipped: true, bytes: file.bytes, md5: file.md5});
});

// ---------------------------------------------------------------- resuming from a partial file

for (const verify of ['read-back', 'command'] as const) {
  test(`a push resumes from the partial file an earlier attempt left when it is a prefix of the source (verify = ${verify})`, async (t) => {
    const dir = await tempFolder(t);
    const file = await randomFile(join(dir, 'a.edwr'), 3 * 1024 * 1024 + 11);
    const out = join(dir, 'out');
    await mkdir(out);
    const prefix = 1024 * 1024 + 5;
    await writeFile(temporaryName(join(out, 'a.edwr'), 'doc-a'), (await readFile(file.path)).subarray(0, prefix));
    const session = await connect(t, {verify});
    const sent: number[] = [];
    const result = await session.push(file.path, out, 'a.edwr', file, {partialKey: 'doc-a', onProgress: (p) => p.phase === 'send' && sent.push(p.bytes)});
    t.like(result, {resumed: true, resumed_from: prefix, bytes: file.bytes, md5: file.md5, skipped: false});
    t.is(sent[0], prefix, 'sending starts where the partial file ends');
    t.is(await md5OfFile(join(out, 'a.edwr')), file.md5);
    t.deepEqual(await partials(out), []);
  });

  test(`a pull resumes from the partial file an earlier attempt left when it is a prefix of the source (verify = ${verify})`, async (t) => {
    const dir = await tempFolder(t);
    const file = await randomFile(join(dir, 'a.edwr'), 3 * 1024 * 1024 + 11);
    const into = join(dir, 'in');
    await mkdir(into);
    const prefix = 2 * 1024 * 1024 + 3;
    await writeFile(temporaryName(join(into, 'a.edwr'), 'doc-a'), (await readFile(file.path)).subarray(0, prefix));
    const session = await connect(t, {verify});
    const result = await session.pull(file.path, into, 'a.edwr', file, {partialKey: 'doc-a'});
    t.like(result, {resumed: true, resumed_from: prefix, bytes: file.bytes, md5: file.md5});
    t.is(await md5OfFile(join(into, 'a.edwr')), file.md5);
    t.deepEqual(await partials(into), []);
  });
}

for (const direction of ['push', 'pull'] as const) {
  test(`a ${direction} starts over when the partial file is not a prefix of the source, or is longer than it`, async (t) => {
    const dir = await tempFolder(t);
    const file = await randomFile(join(dir, 'a.edwr'), 1024 * 1024);
    const into = join(dir, 'into');
    await mkdir(into);
    const session = await connect(t);
    const transfer = () => direction === 'push'
      ? session.push(file.path, into, 'a.edwr', file, {partialKey: 'doc-a'})
      : session.pull(file.path, into, 'a.edwr', file, {partialKey: 'doc-a'});
    const data = await readFile(file.path);
    const wrongByte = Buffer.from(data.subarray(0, 300_000));
    wrongByte[299_999] ^= 1;
    const partial = temporaryName(join(into, 'a.edwr'), 'doc-a');
    for (const bad of [wrongByte, Buffer.concat([data, Buffer.from('more')])]) {
      await rm(join(into, 'a.edwr'), {force: true});
      await writeFile(partial, bad);
      const result = await transfer();
      t.like(result, {resumed: false, resumed_from: 0, skipped: false, md5: file.md5});
      t.is(await md5OfFile(join(into, 'a.edwr')), file.md5);
      t.deepEqual(await partials(into), []);
    }
  });
}

test('a partial file that already holds the whole file is verified and renamed without sending again', async (t) => {
  const dir = await tempFolder(t);
  const file = await randomFile(join(dir, 'a.edwr'), 500_000);
  const out = join(dir, 'out');
  await mkdir(out);
  await writeFile(temporaryName(join(out, 'a.edwr'), 'doc-a'), await readFile(file.path));
  const session = await connect(t);
  const sent: number[] = [];
  const result = await session.push(file.path, out, 'a.edwr', file, {partialKey: 'doc-a', onProgress: (p) => p.phase === 'send' && sent.push(p.bytes)});
  t.like(result, {resumed: true, resumed_from: file.bytes, bytes: file.bytes});
  t.deepEqual(sent, [file.bytes], 'no chunk was sent');
  t.is(await md5OfFile(join(out, 'a.edwr')), file.md5);
});

test('two documents whose files share a name and a destination write different temporary files: one never resumes from or removes the other\'s', async (t) => {
  t.not(temporaryName('/sps/run1/a.edwr', 'doc-1'), temporaryName('/sps/run1/a.edwr', 'doc-2'));
  t.is(temporaryName('/sps/run1/a.edwr', 'doc-1'), temporaryName('/sps/run1/a.edwr', 'doc-1'), 'the next attempt of a document finds its own');
  t.regex(temporaryName('/sps/run1/a.edwr', 'doc-1'), /^\/sps\/run1\/a\.edwr\.[0-9a-f]{8}\.edw-partial$/);
  const dir = await tempFolder(t);
  const file = await randomFile(join(dir, 'a.edwr'), 400_000);
  const out = join(dir, 'out');
  await mkdir(out);
  const others = randomBytes(100_000);
  const othersPartial = temporaryName(join(out, 'a.edwr'), 'doc-2');
  await writeFile(othersPartial, others);
  const session = await connect(t);
  const result = await session.push(file.path, out, 'a.edwr', file, {partialKey: 'doc-1'});
  t.like(result, {resumed: false, md5: file.md5});
  t.deepEqual(await readFile(othersPartial), others, "the other document's partial file is left as it was");
});

for (const verify of ['read-back', 'command'] as const) {
  test(`a remote temporary file altered before it is verified is refused with both checksums and no final file (verify = ${verify})`, async (t) => {
    const dir = await tempFolder(t);
    const file = await randomFile(join(dir, 'a.edwr'), 1024 * 1024);
    const session = await connect(t, {verify});
    const final = join(dir, 'out', 'a.edwr');
    const tampered = randomBytes(file.bytes);
    let altered = false;
    const error = await stepError(t, session.push(file.path, join(dir, 'out'), 'a.edwr', file, {
      partialKey: 'doc-a',
      onProgress: ({phase}) => {
        // The verify phase starts once every byte is on the server: change them under its feet.
        if (phase === 'verify' && !altered) {
          writeFileSync(temporaryName(final, 'doc-a'), tampered);
          altered = true;
        }
      },
    }));
    t.true(altered);
    t.false(error.retryable);
    t.true(error.message.includes(file.md5), error.message);
    t.true(error.message.includes(md5Of(tampered)), error.message);
    t.false(existsSync(final));
    t.deepEqual(await partials(join(dir, 'out')), [], 'the refused copy is removed');
  });
}

test('a local file that no longer matches its registration is not sent to its final name', async (t) => {
  const dir = await tempFolder(t);
  const file = await randomFile(join(dir, 'a.edwr'), 10_000);
  const session = await connect(t);
  const error = await stepError(t, session.push(file.path, join(dir, 'out'), 'a.edwr', {...file, md5: '0'.repeat(32)}));
  t.false(error.retryable);
  t.regex(error.message, /changed since registration/);
  t.true(error.message.includes(file.md5));
  t.false(existsSync(join(dir, 'out', 'a.edwr')));
  t.deepEqual(await partials(join(dir, 'out')), []);
});

test('pulling a remote file that does not exist fails at once, naming it', async (t) => {
  const dir = await tempFolder(t);
  const session = await connect(t);
  const error = await stepError(t, session.pull(join(dir, 'nope.edwr'), join(dir, 'in'), 'nope.edwr', {md5: '0'.repeat(32), bytes: 1}));
  t.false(error.retryable);
  t.regex(error.message, /nope\.edwr does not exist on 127\.0\.0\.1:\d+/);
});

// ---------------------------------------------------------------- host keys and authentication

test('an unknown host key is refused with the host and its fingerprint', async (t) => {
  const file = await knownHosts(t, `[127.0.0.1]:1 ${sshd.hostKey.line}\n`);
  const error = await stepError(t, SftpSession.connect(options({knownHostsFile: file})));
  t.false(error.retryable);
  t.true(error.message.includes(`127.0.0.1:${sshd.port}`), error.message);
  t.true(error.message.includes(sshd.hostKey.fingerprint), error.message);
  t.regex(error.message, /is not in .*known_hosts/);
  t.false(error.message.includes('\n'));
});

test('a missing known_hosts file refuses the host the same way', async (t) => {
  const error = await stepError(t, SftpSession.connect(options({knownHostsFile: join(await tempFolder(t), 'none')})));
  t.false(error.retryable);
  t.true(error.message.includes(sshd.hostKey.fingerprint));
});

test('a changed host key is refused with the offered key\'s fingerprint and the line that disagrees', async (t) => {
  const other = await generateKey(join(await tempFolder(t), 'other'));
  const file = await knownHosts(t, `# first line\n[127.0.0.1]:${sshd.port} ${other.split(' ').slice(0, 2).join(' ')}\n`);
  const error = await stepError(t, SftpSession.connect(options({knownHostsFile: file})));
  t.false(error.retryable);
  t.regex(error.message, /changed/);
  t.true(error.message.includes(sshd.hostKey.fingerprint), error.message);
  t.false(error.message.includes(fingerprintOf(other)));
  t.true(error.message.includes(`${file}:2`), error.message);
});

test('a hashed entry for the host lets the connection through', async (t) => {
  const file = await knownHosts(t, `[127.0.0.1]:${sshd.port} ${sshd.hostKey.line}\n`);
  await run('ssh-keygen', ['-H', '-f', file]);
  t.false((await readFile(file, 'utf8')).includes('127.0.0.1'));
  const session = await connect(t, {knownHostsFile: file});
  t.true(session.alive);
});

test('accept-new records a new host, then the recorded key is checked like any other', async (t) => {
  const file = join(await tempFolder(t), 'ssh', 'known_hosts');
  const session = await connect(t, {knownHostsFile: file, hostKeyCheck: 'accept-new'});
  t.true(session.alive);
  const text = await readFile(file, 'utf8');
  t.is(text, `[127.0.0.1]:${sshd.port} ${sshd.hostKey.line}\n`);
  t.is((await stat(file)).mode & 0o777, 0o600);
  // Once recorded, the strict check accepts it, and a second accept-new adds nothing.
  await connect(t, {knownHostsFile: file});
  await connect(t, {knownHostsFile: file, hostKeyCheck: 'accept-new'});
  t.is(await readFile(file, 'utf8'), text);
});

test('accept-new still refuses a changed key', async (t) => {
  const other = await generateKey(join(await tempFolder(t), 'other'));
  const file = await knownHosts(t, `[127.0.0.1]:${sshd.port} ${other.split(' ').slice(0, 2).join(' ')}\n`);
  const error = await stepError(t, SftpSession.connect(options({knownHostsFile: file, hostKeyCheck: 'accept-new'})));
  t.regex(error.message, /changed/);
  t.true(error.message.includes(sshd.hostKey.fingerprint));
  t.is((await readFile(file, 'utf8')).split('\n').filter(Boolean).length, 1);
});

test('host_key_check = off accepts any key and logs a warning on every connection', async (t) => {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({level: 'warn', format: 'json', stream: new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  })});
  const file = await knownHosts(t, '');
  for (let i = 0; i < 2; i++) {
    const session = await SftpSession.connect(options({knownHostsFile: file, hostKeyCheck: 'off', log}));
    await session.close();
  }
  const warnings = lines.filter((l) => l.level === 'warn');
  t.is(warnings.length, 2);
  t.like(warnings[0], {message: 'host key not checked (host_key_check = off)', host: `127.0.0.1:${sshd.port}`});
  t.true(String(warnings[0]!.key).includes(sshd.hostKey.fingerprint));
  t.is(await readFile(file, 'utf8'), '', 'nothing is recorded');
});

test('a user key the server does not accept gives a clear, non-retryable error', async (t) => {
  const key = join(await tempFolder(t), 'stranger');
  await generateKey(key);
  const error = await stepError(t, SftpSession.connect(options({keyFile: key})));
  t.false(error.retryable);
  t.is(error.message, `127.0.0.1:${sshd.port} refused the key ${key} for user ${sshd.user} (all configured authentication methods failed)`);
});

test('a key with a passphrase is used with it, and refused clearly without it', async (t) => {
  const key = join(await tempFolder(t), 'locked');
  await sshd.authorize(await generateKey(key, {passphrase: 'open sesame'}));
  const session = await connect(t, {keyFile: key, passphrase: 'open sesame'});
  t.true(session.alive);
  const error = await stepError(t, SftpSession.connect(options({keyFile: key})));
  t.false(error.retryable);
  t.regex(error.message, /cannot use the private key .*locked.*passphrase/);
});

test('a missing private key file is named', async (t) => {
  const error = await stepError(t, SftpSession.connect(options({keyFile: '/nonexistent/key'})));
  t.false(error.retryable);
  t.regex(error.message, /cannot read the private key \/nonexistent\/key .*ENOENT/);
});

test('a port nobody listens on gives a retryable error naming host and port', async (t) => {
  const port = await findFreePort();
  const error = await stepError(t, SftpSession.connect(options({port})));
  t.true(error.retryable);
  t.is(error.message, `cannot connect to 127.0.0.1:${port}: ECONNREFUSED`);
});

test('a server that accepts the connection but never speaks SSH gives a retryable timeout', async (t) => {
  const sockets = new Set<Socket>();
  const silent = createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    silent.close();
  });
  const port = (silent.address() as AddressInfo).port;
  const error = await stepError(t, SftpSession.connect(options({port, readyTimeoutMs: 300})));
  t.true(error.retryable);
  t.is(error.message, `cannot connect to 127.0.0.1:${port}: Timed out while waiting for handshake`);
});

// ---------------------------------------------------------------- connections reused and bounded per host

test('a pool lends at most connectionsPerHost sessions to one host; the next caller waits and gets a released one', async (t) => {
  const pool = new SftpPool({connectionsPerHost: 2});
  t.teardown(() => pool.close());
  const first = await pool.acquire(options());
  const second = await pool.acquire(options());
  t.false(first.reused);
  t.not(first.session, second.session);
  const third = pool.acquire(options());
  t.is(pool.openTo(sshd.host, sshd.port), 2);
  first.release();
  const lent = await third;
  t.is(lent.session, first.session, 'the released session, not a new connection');
  t.true(lent.reused);
  t.is(pool.openTo(sshd.host, sshd.port), 2);
  lent.release();
  second.release();
});

test('a caller waiting for a connection gives up when its signal aborts, and the connection goes to the next', async (t) => {
  const pool = new SftpPool({connectionsPerHost: 1});
  t.teardown(() => pool.close());
  const held = await pool.acquire(options());
  const controller = new AbortController();
  const reason = new Error('step timed out');
  const impatient = pool.acquire(options(), {signal: controller.signal});
  const patient = pool.acquire(options());
  controller.abort(reason);
  t.is(await impatient.catch((error: unknown) => error), reason);
  held.release();
  t.is((await patient).session, held.session);
});

test('sessions are shared only with the same settings; an idle one of other settings is closed to make room', async (t) => {
  const pool = new SftpPool({connectionsPerHost: 1});
  t.teardown(() => pool.close());
  const readBack = await pool.acquire(options({verify: 'read-back'}));
  readBack.release();
  const command = await pool.acquire(options({verify: 'command'}));
  t.not(command.session, readBack.session);
  t.false(readBack.session.alive);
  t.is(pool.openTo(sshd.host, sshd.port), 1);
  command.release();
});

test('closing a pool closes its sessions, lent or idle, and refuses new callers with a retryable error', async (t) => {
  const pool = new SftpPool({connectionsPerHost: 2});
  const lent = await pool.acquire(options());
  const idle = await pool.acquire(options());
  idle.release();
  await pool.close();
  t.false(lent.session.alive);
  t.false(idle.session.alive);
  const error = await stepError(t, pool.acquire(options()));
  t.true(error.retryable);
  lent.release();
  await pool.close();
});

test('a pool refuses a bound below 1 or an idle time of 0, naming the option', (t) => {
  t.throws(() => new SftpPool({connectionsPerHost: 0}), {instanceOf: TypeError, message: /connectionsPerHost must be a positive integer, got 0/});
  t.throws(() => new SftpPool({idleMs: 0}), {instanceOf: TypeError, message: /idleMs must be a positive number of ms, got 0/});
});

const LOGIN = /Accepted publickey for/;
const LOGOUT = /Disconnected from user/;

for (const connections of [undefined, 3]) {
  const bound = connections ?? 2;
  test(`embedded: 20 files to one host use at most ${bound} SSH connections (connections = ${connections ?? 'default'}), closed when the listener stops`, async (t) => {
    const server = await ownSshd(t);
    const ws = await workspace(t, {ini: chainIni({
      transport: 'sftp', host: server.host, port: server.port, user: server.user, key_file: server.userKeyFile,
      known_hosts_file: server.knownHostsFile, direction: 'push', concurrency: 8, ...(connections ? {connections} : {}),
    })});
    const store = await ws.open();
    const ids = await simulateAndRegister(store, join(ws.dir, 'raw'), 20);
    const summary = await drain(store, ws.config, ['move_to_sps']);
    t.deepEqual(summary.failed, []);
    t.is(summary.completed, 20);
    for (const doc of await allDataDocs(store, ids)) {
      t.deepEqual(completions(doc), {move_to_sps: 1});
      t.is(await md5OfFile(join(ws.dir, 'sps', doc.run!, `${doc._id}.edwr`)), doc.md5sum!);
    }
    const logins = server.logCount(LOGIN);
    t.true(logins >= 1 && logins <= bound, `${logins} logins`);
    // drain() returns once the listener has stopped, which closes the step's connections.
    await server.waitForLog(LOGOUT, logins, AbortSignal.timeout(20_000));
  });
}

test('embedded: an SFTP connection unused for idle_timeout is closed while the listener runs', async (t) => {
  const server = await ownSshd(t);
  const ws = await workspace(t, {ini: chainIni({
    transport: 'sftp', host: server.host, port: server.port, user: server.user, key_file: server.userKeyFile,
    known_hosts_file: server.knownHostsFile, direction: 'pull', idle_timeout: '200ms',
  })});
  const store = await ws.open();
  await simulateAndRegister(store, join(ws.dir, 'raw'), 3);
  const listening = await runner(store, ws.config, {names: ['move_to_sps']});
  let completed = 0;
  const allCompleted = new Promise<void>((resolve) => listening.stepListeners[0]!.on('completed', () => ++completed === 3 && resolve()));
  const stopped = listening.run();
  t.teardown(() => listening.stop());
  let stopping = false;
  void stopped.finally(() => (stopping = true));
  await allCompleted;
  const logins = server.logCount(LOGIN);
  t.true(logins >= 1 && logins <= 2);
  await server.waitForLog(LOGOUT, logins, AbortSignal.timeout(20_000));
  t.false(stopping, 'closed for being idle, not by a stop');
  await listening.stop();
  await stopped;
});

// ---------------------------------------------------------------- progress in the listener's log

test('progress is reported once per interval whatever the chunks, with percent and the rate since the last report', (t) => {
  let now = 0;
  const lines: ProgressLine[] = [];
  const reporter = new ProgressReporter({intervalMs: 5000, now: () => now, emit: (line) => lines.push(line)});
  reporter.tick();
  t.deepEqual(lines, [], 'nothing before the transfer reports');
  const total = 100 * 1024 * 1024;
  reporter.update({phase: 'send', bytes: 0, totalBytes: total});
  // 1,600 chunks of 64 KB over 10 s, and a report every 5 s: two lines.
  for (let chunk = 1; chunk <= 1600; chunk++) {
    now = chunk * 6.25;
    reporter.update({phase: 'send', bytes: chunk * 65536, totalBytes: total});
    if (now % 5000 === 0) reporter.tick();
  }
  t.deepEqual(lines, [
    {phase: 'send', bytes: 800 * 65536, percent: 50, bytes_per_second: 800 * 65536 / 5},
    {phase: 'send', bytes: 1600 * 65536, percent: 100, bytes_per_second: 800 * 65536 / 5},
  ]);
  now += 5000;
  reporter.tick();
  t.like(lines[2], {bytes: 1600 * 65536, bytes_per_second: 0}, 'a stalled transfer still reports, at 0 B/s');
  reporter.update({phase: 'verify', bytes: 0, totalBytes: total});
  now += 1000;
  reporter.update({phase: 'verify', bytes: 10 * 1024 * 1024, totalBytes: total});
  reporter.tick();
  t.deepEqual(lines[3], {phase: 'verify', bytes: 10 * 1024 * 1024, percent: 10, bytes_per_second: 10 * 1024 * 1024}, 'the rate of a new phase counts from its start');
});

test('embedded: a transfer logs its progress every progress_interval, stalled or not, never once per chunk', async (t) => {
  const proxy = await startTcpProxy(sshd.port);
  t.teardown(() => proxy.close());
  const ws = await workspace(t, {ini: chainIni({
    transport: 'sftp', host: sshd.host, port: proxy.port, user: sshd.user, key_file: sshd.userKeyFile,
    known_hosts_file: await proxyKnownHosts(t, proxy.port), direction: 'pull', progress_interval: '100ms',
  })});
  const store = await ws.open();
  const file = await bigFile(store, ws.dir, 'prog_000', 8 * 1024 * 1024);
  const {log, lines, seen} = capturingLogger();
  const progressLines = () => lines.filter((l) => l.message === 'transfer progress');
  const held = proxy.holdAfter('down', 2 * 1024 * 1024);
  const started = performance.now();
  const drained = drain(store, ws.config, ['move_to_sps'], {log});
  await held;
  // Held mid-file: the reports go on, at 0 B/s once what was in flight has arrived. Two such, then let it finish.
  let stalled: Array<Record<string, unknown>> = [];
  for await (const _ of on(seen, 'line', {signal: AbortSignal.timeout(30_000)})) {
    stalled = progressLines().slice(-2);
    if (stalled.length === 2 && stalled.every((l) => l.bytes_per_second === 0)) break;
  }
  proxy.release();
  const summary = await drained;
  const elapsedMs = performance.now() - started;
  t.deepEqual(summary.failed, []);
  const reports = progressLines();
  // At most one line per interval, and lines at 0 B/s while held: a timer writes them, not a chunk. (Not
  // 'fewer lines than chunks': on a busy machine the transfer may last more intervals than it has chunks.)
  t.true(reports.length <= Math.floor(elapsedMs / 100) + 1, `${reports.length} lines in ${Math.round(elapsedMs)} ms`);
  t.is(stalled[0]!.bytes, stalled[1]!.bytes);
  t.true((stalled[0]!.percent as number) < 100);
  // At info a transfer's end is no line of its own (one per document): 'transferred' is at verbose.
  t.false(lines.some((l) => l.message === 'transferred'), 'no transferred line at info');
  for (const line of reports) {
    t.like(line, {level: 'info', docId: 'prog_000', step: 'move_to_sps'});
    t.true(typeof line.percent === 'number' && line.percent >= 0 && line.percent <= 100);
    t.is(typeof line.bytes_per_second, 'number');
  }
});

// ---------------------------------------------------------------- a transfer whose server goes away

/** An sshd of the test's own, so killing its processes touches no other test's connections. */
async function ownSshd(t: {teardown(fn: () => unknown): void}): Promise<Sshd> {
  const server = await startSshd();
  t.teardown(() => server.stop());
  return server;
}

/**
 * Push from a FIFO the test writes 1 MB into and keeps open, so the transfer stays mid-file for as
 * long as the test wants: what ends it is the event under test, never a timing.
 */
async function pushFromFifo(t: Parameters<typeof tempFolder>[0], session: SftpSession, onSending: () => void, signal?: AbortSignal): Promise<unknown> {
  const dir = await tempFolder(t);
  const fifo = join(dir, 'growing.edwr');
  await run('mkfifo', [fifo]);
  const writer = open(fifo, 'w'); // resolves once the transfer opens the other end
  let started = false;
  const transfer = session.push(fifo, join(dir, 'out'), 'growing.edwr', {md5: '0'.repeat(32), bytes: 1 << 30}, {
    signal,
    onProgress: ({phase, bytes}) => {
      if (phase === 'send' && bytes >= 1 << 20 && !started) {
        started = true;
        onSending();
      }
    },
  }).then(() => t.fail('the transfer completed'), (error: unknown) => error);
  const handle = await writer;
  t.teardown(() => handle.close());
  await handle.write(randomBytes(1 << 20));
  return transfer;
}

test('a transfer whose SFTP server process is killed fails retryably instead of waiting forever', async (t) => {
  const server = await ownSshd(t);
  const session = await SftpSession.connect({host: server.host, port: server.port, user: server.user, keyFile: server.userKeyFile, knownHostsFile: server.knownHostsFile});
  t.teardown(() => session.close());
  const error = await pushFromFifo(t, session, () => void server.killSftpServers());
  t.true(error instanceof StepError, String(error));
  t.true((error as StepError).retryable);
  t.regex((error as StepError).message, /SFTP channel to 127\.0\.0\.1:\d+ closed/);
  t.false(session.alive);
});

test('a transfer whose SSH connection is killed fails retryably', async (t) => {
  const server = await ownSshd(t);
  const session = await SftpSession.connect({host: server.host, port: server.port, user: server.user, keyFile: server.userKeyFile, knownHostsFile: server.knownHostsFile});
  t.teardown(() => session.close());
  const error = await pushFromFifo(t, session, () => void server.killSessions());
  t.true(error instanceof StepError, String(error));
  t.true((error as StepError).retryable);
  t.regex((error as StepError).message, /127\.0\.0\.1:\d+/);
});

test('after sshd restarts on its port and host key, the old session reports the loss as retryable and a new one connects', async (t) => {
  const server = await ownSshd(t);
  const settings = {host: server.host, port: server.port, user: server.user, keyFile: server.userKeyFile, knownHostsFile: server.knownHostsFile};
  const before = await SftpSession.connect(settings);
  t.teardown(() => before.close());
  const dir = await tempFolder(t);
  const file = await randomFile(join(dir, 'a.edwr'), 1000);
  await server.restart();
  const error = await stepError(t, before.push(file.path, join(dir, 'out'), 'a.edwr', file));
  t.true(error.retryable, error.message);
  const after = await SftpSession.connect(settings);
  t.teardown(() => after.close());
  t.like(await after.push(file.path, join(dir, 'out'), 'a.edwr', file), {skipped: false, md5: file.md5});
});

/** Resolve once the file at `path` holds at least `bytes` (it is written by another process or by ssh2 in this one). */
async function fileReaches(path: string, bytes: number): Promise<number> {
  for (;;) {
    const size = (await stat(path).catch(() => undefined))?.size ?? 0;
    if (size >= bytes) return size;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

for (const direction of ['push', 'pull'] as const) {
  test(`embedded: the serving sshd process killed in the middle of a large file (${direction}): the retry resumes from the verified partial file, the result says so, the md5 is right`, async (t) => {
    const server = await ownSshd(t);
    const proxy = await startTcpProxy(server.port);
    t.teardown(() => proxy.close());
    const ws = await workspace(t, {ini: chainIni({
      transport: 'sftp', host: server.host, port: proxy.port, user: server.user, key_file: server.userKeyFile,
      known_hosts_file: await proxyKnownHosts(t, proxy.port, server), direction,
    })});
    const store = await ws.open();
    const file = await bigFile(store, ws.dir, 'kill_000', 24 * 1024 * 1024);
    const final = join(ws.dir, 'sps', 'kill', 'kill_000.edwr');
    // Push: the partial file is sshd's (on this disk); pull: it is ours. Either way it is here.
    const partial = temporaryName(final, 'kill_000');
    // The proxy stops the connection after 6 MB of the file's direction: mid-file, whatever the machine's speed.
    const held = proxy.holdAfter(direction === 'push' ? 'up' : 'down', 6 * 1024 * 1024);
    const drained = drain(store, ws.config, ['move_to_sps']);
    await held;
    const before = await fileReaches(partial, 1024 * 1024);
    t.is(await server.killSessions(), 1, 'one per-connection sshd process, killed');
    proxy.release();
    const summary = await drained;
    t.deepEqual(summary.failed, []);
    const doc = (await store.get('kill_000')) as DataFileDoc;
    t.deepEqual(doc.process.map((e) => [e.status, e.attempt]), [['failed', 1], ['done', 2]]);
    t.true(doc.process[0]!.error!.retryable);
    t.regex(doc.process[0]!.error!.message, new RegExp(`127\\.0\\.0\\.1:${proxy.port}`));
    const result = doc.process[1]!.result!;
    t.like(result, {resumed: true, bytes: file.bytes, md5: file.md5, reused: false});
    const from = result.resumed_from as number;
    t.true(from >= before && from < file.bytes, `resumed from ${from} (partial had ${before} bytes when killed)`);
    t.is(await md5OfFile(final), file.md5);
    t.deepEqual(await partials(join(ws.dir, 'sps', 'kill')), []);
    t.is(proxy.accepted, 2, 'one connection per attempt');
  });
}

test('an aborted transfer settles at once with the abort reason and closes its session', async (t) => {
  const session = await connect(t);
  const controller = new AbortController();
  const reason = new Error('step timed out');
  const error = await pushFromFifo(t, session, () => controller.abort(reason), controller.signal);
  t.is(error, reason);
  t.false(session.alive);
});

// ---------------------------------------------------------------- the chain with move_to_sps over SFTP

/** edw.ini step sections: move_to_sps over SFTP to the fixture, then the two processing steps. */
function sftpChainIni(settings: Record<string, string | number>): string {
  return chainIni({
    transport: 'sftp', host: sshd.host, port: sshd.port, user: sshd.user, key_file: sshd.userKeyFile,
    known_hosts_file: sshd.knownHostsFile, ...settings,
  });
}

for (const backend of backends) {
  for (const direction of ['push', 'pull'] as const) {
    test(`${backend.name}: the whole chain runs with move_to_sps over SFTP (${direction}), each file verified where it arrived`, async (t) => {
      const ws = await workspace(t, {databaseUrl: await backend.databaseUrl(t), ini: sftpChainIni({direction})});
      const store = await ws.open();
      const ids = await simulateAndRegister(store, join(ws.dir, 'raw'), 6);
      const summary = await drain(store, ws.config);
      t.deepEqual(summary.failed, []);
      t.is(summary.completed, 18);
      for (const doc of await allDataDocs(store, ids)) {
        t.is(stageOf(doc), 'ingest_detections');
        t.deepEqual(completions(doc), {move_to_sps: 1, signal_processing: 1, ingest_detections: 1});
        const [move, sp] = doc.process;
        const arrived = join(ws.dir, 'sps', doc.run!, `${doc._id}.edwr`);
        t.like(move!.result, {transport: 'sftp', direction, bytes: doc.bytes, md5: doc.md5sum, reused: false, verified: direction === 'push' ? 'read-back' : 'local'});
        t.deepEqual(move!.result!.outputs, [{path: arrived, bytes: doc.bytes, md5: doc.md5sum}]);
        const remote = {host: sshd.host, port: sshd.port};
        t.like(move!.result![direction === 'push' ? 'destination' : 'source'], remote);
        t.like(move!.result!.source, {path: doc.original_file});
        t.like(move!.result!.destination, {path: arrived});
        t.true((move!.result!.bytes_per_second as number) > 0);
        t.is(await md5OfFile(arrived), doc.md5sum!);
        t.is(sp!.result!.input, arrived);
      }
    });
  }
}

test('embedded: an unknown host fails move_to_sps at once, the document recording the host key\'s fingerprint', async (t) => {
  const ws = await workspace(t, {ini: sftpChainIni({direction: 'push', known_hosts_file: 'empty_known_hosts'})});
  await writeFile(join(ws.dir, 'empty_known_hosts'), '');
  const store = await ws.open();
  const [id] = await simulateAndRegister(store, join(ws.dir, 'raw'), 1);
  const summary = await drain(store, ws.config);
  t.is(summary.failed.length, 1);
  const doc = (await store.get(id!)) as DataFileDoc;
  t.is(stageOf(doc), 'new');
  t.is(doc.process.length, 1, 'not retried');
  t.like(doc.process[0], {name: 'move_to_sps', status: 'failed', attempt: 1});
  t.false(doc.process[0]!.error!.retryable);
  t.true(doc.process[0]!.error!.message.includes(sshd.hostKey.fingerprint));
  t.false(existsSync(join(ws.dir, 'sps')));
});

for (const backend of backends) {
  test(`${backend.name}: a remote temporary file altered during a push is refused: move_to_sps failed for good, both md5s recorded, no final file`, async (t) => {
    const proxy = await startTcpProxy(sshd.port);
    t.teardown(() => proxy.close());
    const ws = await workspace(t, {databaseUrl: await backend.databaseUrl(t), ini: chainIni({
      transport: 'sftp', host: sshd.host, port: proxy.port, user: sshd.user, key_file: sshd.userKeyFile,
      known_hosts_file: await proxyKnownHosts(t, proxy.port), direction: 'push', verify: 'read-back',
    })});
    const store = await ws.open();
    const file = await bigFile(store, ws.dir, 'tamper_000', 8 * 1024 * 1024);
    const final = join(ws.dir, 'sps', 'tamper', 'tamper_000.edwr');
    const partial = temporaryName(final, 'tamper_000');
    // While the file goes up the server sends only short replies (11 KB in all for this 8 MB
    // file, measured): 2 MB coming down is the read-back of the temporary file, a quarter in.
    // The proxy stops it there, and with it the client, which asks for the next chunk only once
    // it has the last one: the server is not reading the file while it is changed.
    const held = proxy.holdAfter('down', 2 * 1024 * 1024);
    const drained = drain(store, ws.config);
    // A run that ends before the hold (a transfer that failed early) fails the test instead of hanging it.
    await Promise.race([held, drained.then((s) => Promise.reject(new Error(`the run ended before the read-back: ${JSON.stringify(s.failed)}`)))]);
    t.is((await stat(partial)).size, file.bytes, 'every byte is on the server: held while verifying');
    // Change the last 4 KB, not the size: only the md5 can tell.
    const handle = await open(partial, 'r+');
    await handle.write(randomBytes(4096), 0, 4096, file.bytes - 4096);
    await handle.close();
    const found = await md5OfFile(partial);
    proxy.release();
    const summary = await drained;

    t.is(summary.failed.length, 1);
    const doc = (await store.get('tamper_000')) as DataFileDoc;
    t.is(doc.process.length, 1, `not retried: ${JSON.stringify(doc.process.map((e) => [e.status, e.attempt, e.error?.message]))}`);
    t.like(doc.process[0], {name: 'move_to_sps', status: 'failed', attempt: 1});
    const error = doc.process[0]!.error!;
    t.false(error.retryable);
    t.true(error.message.includes(`expected ${file.md5}`), error.message);
    t.true(error.message.includes(`md5 ${found}`), error.message);
    t.is(stageOf(doc), 'new', 'not at move_to_sps');
    t.like(doc.edw?.failed, {step: 'move_to_sps', attempts: 1, error: error.message});
    t.false(existsSync(final));
    t.deepEqual(await partials(join(ws.dir, 'sps', 'tamper')), [], 'the refused copy is removed, so nothing is resumed from it');
    t.is(proxy.accepted, 1);
  });
}

for (const backend of backends) {
  test(`${backend.name}: an unreachable SFTP host is retried with backoff, then failed naming host:port; once it is back, edw retry completes the document once`, async (t) => {
    const server = await ownSshd(t);
    await server.down();
    const ws = await workspace(t, {databaseUrl: await backend.databaseUrl(t), ini: chainIni({
      transport: 'sftp', host: server.host, port: server.port, user: server.user, key_file: server.userKeyFile,
      known_hosts_file: server.knownHostsFile, direction: 'push',
    })});
    // Shared, so that the edw command below reaches the embedded database this test holds open.
    const store = await ws.open({share: true});
    const [id] = await simulateAndRegister(store, join(ws.dir, 'raw'), 1);
    const first = await drain(store, ws.config, ['move_to_sps']);
    t.is(first.failed.length, 1);
    let doc = (await store.get(id!)) as DataFileDoc;
    t.deepEqual(doc.process.map((e) => [e.status, e.attempt, e.error?.retryable]), [['failed', 1, true], ['failed', 2, true]]);
    t.is(doc.process[1]!.error!.message, `cannot connect to 127.0.0.1:${server.port}: ECONNREFUSED`);
    t.like(doc.edw?.failed, {step: 'move_to_sps', attempts: 2});
    // [listen] backoff = 50ms in the test workspace: the second try waited at least that long.
    t.true(Date.parse(doc.process[1]!.started!) - Date.parse(doc.process[0]!.finished!) >= 50);

    await server.up();
    const retry = await edw('--config', ws.configPath, 'retry', id!);
    t.deepEqual([retry.code, retry.out], [0, [`retry ${id}`]]);
    const second = await drain(store, ws.config, ['move_to_sps']);
    t.deepEqual(second.failed, []);
    t.is(second.completed, 1);
    doc = (await store.get(id!)) as DataFileDoc;
    t.deepEqual(doc.process.map((e) => e.status), ['failed', 'failed', 'done']);
    t.deepEqual(completions(doc), {move_to_sps: 1});
    t.is(doc.edw?.failed, undefined);
    t.is(await md5OfFile(join(ws.dir, 'sps', doc.run!, `${id}.edwr`)), doc.md5sum!);
    t.is((await drain(store, ws.config, ['move_to_sps'])).completed, 0, 'nothing is left to do');
  });
}

test('embedded: a bad SFTP setting is refused when the listener starts, naming it, and no document is touched', async (t) => {
  const ws = await workspace(t, {ini: sftpChainIni({direction: 'sideways'})});
  const store = await ws.open();
  const [id] = await simulateAndRegister(store, join(ws.dir, 'raw'), 1);
  await t.throwsAsync(drain(store, ws.config), {instanceOf: ConfigError, message: '[step.move_to_sps] direction = sideways: expected push, pull'});
  const doc = (await store.get(id!)) as DataFileDoc;
  t.deepEqual(doc.process, []);
});

test('connections, idle_timeout and progress_interval have defaults, and a bad one is named', (t) => {
  const base = {direction: 'push', host: 'h', user: 'u', key_file: '/k'};
  t.like(sftpSettings('move', base), {connections: 2, idleMs: 30_000, progressMs: 5000});
  t.like(sftpSettings('move', {...base, connections: '5', idle_timeout: '2m', progress_interval: '500ms'}), {connections: 5, idleMs: 120_000, progressMs: 500});
  t.throws(() => sftpSettings('move', {...base, connections: '0'}), {instanceOf: ConfigError, message: '[step.move] connections = 0: expected a whole number of 1 or more'});
  t.throws(() => sftpSettings('move', {...base, connections: 'many'}), {message: /connections = many/});
  t.throws(() => sftpSettings('move', {...base, idle_timeout: '30'}), {message: /\[step\.move\] idle_timeout = 30: expected a duration with its unit/});
  t.throws(() => sftpSettings('move', {...base, progress_interval: '0s'}), {message: '[step.move] progress_interval = 0s: expected a duration above 0'});
});

test('embedded: passphrase_env names the variable holding the key\'s passphrase, and an unset one is named', async (t) => {
  const key = join(await tempFolder(t), 'locked');
  await sshd.authorize(await generateKey(key, {passphrase: 'open sesame'}));
  const variable = `EDW_TEST_PASSPHRASE_${randomBytes(4).toString('hex')}`;
  process.env[variable] = 'open sesame';
  t.teardown(() => delete process.env[variable]);
  const ws = await workspace(t, {ini: sftpChainIni({direction: 'pull', key_file: key, passphrase_env: variable})});
  const store = await ws.open();
  const [id] = await simulateAndRegister(store, join(ws.dir, 'raw'), 1);
  t.deepEqual((await drain(store, ws.config, ['move_to_sps'])).failed, []);
  t.deepEqual(completions((await store.get(id!)) as DataFileDoc), {move_to_sps: 1});

  const unset = await workspace(t, {ini: sftpChainIni({direction: 'pull', key_file: key, passphrase_env: `${variable}_UNSET`})});
  const other = await unset.open();
  const [second] = await simulateAndRegister(other, join(unset.dir, 'raw'), 1);
  await t.throwsAsync(drain(other, unset.config, ['move_to_sps']), {
    instanceOf: ConfigError, message: `[step.move_to_sps] passphrase_env = ${variable}_UNSET: that environment variable is not set`,
  });
  t.deepEqual(((await other.get(second!)) as DataFileDoc).process, [], 'refused at start: the document is untouched');
});
