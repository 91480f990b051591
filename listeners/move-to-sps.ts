import {createHash, randomBytes} from 'node:crypto';
import {createReadStream, createWriteStream} from 'node:fs';
import {mkdir, rename, rm} from 'node:fs/promises';
import {basename, join, posix} from 'node:path';
import {Transform} from 'node:stream';
import {pipeline} from 'node:stream/promises';
import {StepError} from '../lib/errors/index.js';
import {parseDuration} from '../lib/config/index.js';
import {fileDigest} from '../lib/files/index.js';
import type {DataFileDoc, StepResult} from '../lib/pipeline/index.js';
import type {Step, StepContext} from '../lib/runtime/index.js';
import {HOST_KEY_CHECKS, REMOTE_VERIFIES, SftpSession, type HostKeyCheck, type RemoteVerify, type SftpOptions, type TransferProgress} from '../lib/transfer/index.js';

/**
 * move_to_sps: move the data file to the processing area (`target_dir`, one folder per run), verify
 * its md5 against the document's `md5sum`, and write it atomically (temporary name, then rename).
 * Idempotent: a destination that already has the right size and md5 is kept and nothing is copied.
 * `transport = local` (default) copies on this machine; `transport = sftp` pushes to or pulls from
 * another host (see `transferOverSftp`).
 */
export const moveToSps: Step = {
  version: '1',
  async run(doc, ctx) {
    const transport = ctx.settings.transport ?? 'local';
    if (transport === 'sftp') return transferOverSftp(doc, ctx);
    if (transport !== 'local') throw new StepError(`[step.${ctx.step}] transport = ${transport}: expected local or sftp`);
    return copyLocally(doc, ctx);
  },
};

/** transport = local: copy on this machine, hashing while writing. */
async function copyLocally(doc: DataFileDoc, {input, settings, signal, log}: StepContext): Promise<StepResult> {
  if (!input) throw new StepError(`document ${doc._id} has no original_file to transfer`);
  if (!settings.target_dir) throw new StepError(`[step] target_dir is not set for move_to_sps`);
  const dir = join(settings.target_dir, doc.run ?? 'unknown-run');
  const destination = join(dir, basename(input));
  const started = Date.now();
  const existing = await fileDigest(destination, signal);
  if (existing && existing.md5 === doc.md5sum) {
    log.info('already transferred', {path: destination});
    return {outputs: [{path: destination, ...existing}], source: input, destination, transport: 'local', reused: true};
  }
  const source = await fileDigest(input, signal).catch((error: unknown) => {
    throw new StepError(`cannot read ${input} (document ${doc._id}): ${(error as NodeJS.ErrnoException).code ?? error}`, {retryable: true, cause: error});
  });
  if (!source) throw new StepError(`data file ${input} of document ${doc._id} does not exist`);
  if (doc.md5sum && source.md5 !== doc.md5sum) {
    throw new StepError(`data file ${input} changed since registration: md5 ${source.md5}, document ${doc._id} says ${doc.md5sum}`);
  }
  await mkdir(dir, {recursive: true});
  // Unique per attempt: two transfers to one destination (in one process or several) never share it.
  const temporary = `${destination}.partial-${randomBytes(6).toString('hex')}`;
  const hash = createHash('md5');
  let bytes = 0;
  try {
    await pipeline(
      createReadStream(input, {signal}),
      new Transform({
        transform(chunk: Buffer, _encoding, done) {
          hash.update(chunk);
          bytes += chunk.length;
          done(null, chunk);
        },
      }),
      createWriteStream(temporary, {signal}),
    );
    const md5 = hash.digest('hex');
    // What was written is checked, not only what was read: the hash covers the bytes that went out.
    if (md5 !== (doc.md5sum ?? source.md5) || bytes !== source.bytes) {
      throw new StepError(`copy of ${input} to ${destination} does not match: md5 ${md5} (${bytes} bytes), expected ${doc.md5sum ?? source.md5} (${source.bytes} bytes)`);
    }
    await rename(temporary, destination);
    const seconds = (Date.now() - started) / 1000;
    return {
      outputs: [{path: destination, bytes, md5}], source: input, destination, transport: 'local',
      seconds, bytes_per_second: seconds > 0 ? Math.round(bytes / seconds) : bytes, reused: false,
    };
  } finally {
    await rm(temporary, {force: true});
  }
}

/** How often a long transfer logs its progress. */
const PROGRESS_EVERY_MS = 5000;

/** The SFTP settings of a `[step.NAME]` section, checked; a bad one fails the step at once, naming it. */
function sftpSettings(step: string, settings: Record<string, string>): SftpOptions & {direction: 'push' | 'pull'} {
  const where = `[step.${step}]`;
  const required = (key: string): string => {
    const value = settings[key];
    if (!value) throw new StepError(`${where} ${key} is not set (needed by transport = sftp)`);
    return value;
  };
  const oneOf = <T extends string>(key: string, allowed: readonly T[], fallback: T | undefined): T => {
    const value = settings[key] ?? fallback;
    if (value === undefined) throw new StepError(`${where} ${key} is not set (${allowed.join(' or ')})`);
    if (!allowed.includes(value as T)) throw new StepError(`${where} ${key} = ${value}: expected ${allowed.join(', ')}`);
    return value as T;
  };
  const port = Number(settings.port ?? '22');
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new StepError(`${where} port = ${settings.port}: expected a port number`);
  let passphrase: string | undefined;
  if (settings.passphrase_env) {
    passphrase = process.env[settings.passphrase_env];
    if (passphrase === undefined) throw new StepError(`${where} passphrase_env = ${settings.passphrase_env}: that environment variable is not set`);
  }
  let readyTimeoutMs: number | undefined;
  if (settings.connect_timeout) {
    try {
      readyTimeoutMs = parseDuration(settings.connect_timeout, `${where} connect_timeout`);
    } catch (error) {
      throw new StepError((error as Error).message, {cause: error});
    }
  }
  return {
    direction: oneOf('direction', ['push', 'pull'] as const, undefined),
    host: required('host'), port, user: required('user'), keyFile: required('key_file'), passphrase,
    knownHostsFile: settings.known_hosts_file || undefined,
    hostKeyCheck: oneOf<HostKeyCheck>('host_key_check', HOST_KEY_CHECKS, 'yes'),
    verify: oneOf<RemoteVerify>('verify', REMOTE_VERIFIES, 'read-back'),
    readyTimeoutMs,
  };
}

/**
 * transport = sftp. `direction = push`: this host (the DAQ) sends `original_file` to
 * `target_dir/<run>/` on the remote host, verified there. `direction = pull`: this host (the centre)
 * fetches `original_file` from the remote host into its own `target_dir/<run>/`, hashed as written.
 */
async function transferOverSftp(doc: DataFileDoc, {step, input, settings, signal, log}: StepContext): Promise<StepResult> {
  if (!input) throw new StepError(`document ${doc._id} has no original_file to transfer`);
  if (!settings.target_dir) throw new StepError(`[step.${step}] target_dir is not set`);
  const {direction, ...options} = sftpSettings(step, settings);
  const run = doc.run ?? 'unknown-run';
  let md5 = doc.md5sum;
  let bytes = doc.bytes;
  if (!md5) {
    if (direction === 'pull') throw new StepError(`document ${doc._id} has no md5sum: a pulled file cannot be verified`);
    // A document in the seed's shape may lack it: the DAQ's own file is then the reference.
    const local = await fileDigest(input, signal);
    if (!local) throw new StepError(`data file ${input} of document ${doc._id} does not exist`);
    ({md5, bytes} = local);
  }
  let lastLogged = performance.now();
  const onProgress = ({phase, bytes: done, totalBytes}: TransferProgress) => {
    const now = performance.now();
    if (now - lastLogged < PROGRESS_EVERY_MS) return;
    lastLogged = now;
    log.info('transfer progress', {phase, bytes: done, percent: totalBytes ? Math.floor((done / totalBytes) * 100) : undefined});
  };
  const session = await SftpSession.connect({...options, log}, {signal});
  try {
    const result = direction === 'push'
      ? await session.push(input, posix.join(settings.target_dir, run), basename(input), {md5, bytes}, {signal, onProgress, partialKey: doc._id, log})
      : await session.pull(input, join(settings.target_dir, run), posix.basename(input), {md5, bytes}, {signal, onProgress, partialKey: doc._id, log});
    log.info(result.skipped ? 'already transferred' : 'transferred', {
      path: result.destination.path, bytes: result.bytes, seconds: result.seconds, bytes_per_second: result.bytes_per_second,
      ...(result.resumed ? {resumed_from: result.resumed_from} : {}),
    });
    return {
      outputs: [{path: result.destination.path, bytes: result.bytes, md5: result.md5}],
      transport: 'sftp', direction, source: result.source, destination: result.destination,
      bytes: result.bytes, md5: result.md5, seconds: result.seconds, bytes_per_second: result.bytes_per_second,
      verified: result.verified, reused: result.skipped, resumed: result.resumed, resumed_from: result.resumed_from,
    };
  } finally {
    await session.close();
  }
}
