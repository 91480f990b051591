import {createHash, randomBytes} from 'node:crypto';
import {createReadStream, createWriteStream} from 'node:fs';
import {access, constants, mkdir, rename, rm} from 'node:fs/promises';
import {basename, join} from 'node:path';
import {Transform} from 'node:stream';
import {pipeline} from 'node:stream/promises';
import {ConfigError, StepError} from '../lib/errors/index.js';
import {fileDigest} from '../lib/files/index.js';
import type {DataFileDoc, StepResult} from '../lib/pipeline/index.js';
import type {StepContext} from '../lib/runtime/index.js';
import type {SftpPool} from '../lib/transfer/index.js';
import type {StepDefinition} from './definition.js';
import {SFTP_SETTINGS, sftpSettings, transferOverSftp} from './sftp-transport.js';

const TRANSPORTS = ['local', 'sftp'];

/** The settings move_to_sps takes, each with what it means. */
export const MOVE_TO_SPS_SETTINGS: Readonly<Record<string, string>> = {
  target_dir: 'where files go, one folder per run (with transport = sftp and direction = push, a path on the remote host)',
  transport: 'local (a copy on this machine, the default) or sftp',
  ...SFTP_SETTINGS,
};

/** Check move_to_sps's settings when its listener starts: a bad one is a ConfigError naming the section and the key. */
async function checkMoveSettings(settings: Readonly<Record<string, string>>, step: string): Promise<void> {
  const where = `[step.${step}]`;
  if (!settings.target_dir) throw new ConfigError(`${where} target_dir is not set (where files go, one folder per run)`);
  const transport = settings.transport ?? 'local';
  if (!TRANSPORTS.includes(transport)) throw new ConfigError(`${where} transport = ${transport}: expected ${TRANSPORTS.join(' or ')}`);
  if (transport !== 'sftp') return;
  const {keyFile} = sftpSettings(step, settings);
  await access(keyFile, constants.R_OK).catch((error: NodeJS.ErrnoException) => {
    throw new ConfigError(`${where} key_file = ${keyFile}: cannot be read (${error.code ?? error.message})`, {cause: error});
  });
}

/**
 * move_to_sps: move the data file to the processing area (`target_dir`, one folder per run), verify
 * its md5 against the document's `md5sum`, and write it atomically (temporary name, then rename).
 * Idempotent: a destination that already has the right size and md5 is kept and nothing is copied.
 * `transport = local` (default) copies on this machine; `transport = sftp` pushes to or pulls from
 * another host (see `transferOverSftp`), over SSH connections this instance keeps between documents
 * and closes on `close()`: make one instance per listener.
 */
export function createMoveToSps(): StepDefinition {
  const pools: {sftp?: SftpPool} = {};
  return {
    version: '1',
    settings: MOVE_TO_SPS_SETTINGS,
    checkSettings: checkMoveSettings,
    async run(doc, ctx) {
      const transport = ctx.settings.transport ?? 'local';
      if (transport === 'sftp') return transferOverSftp(doc, ctx, pools);
      if (transport !== 'local') throw new StepError(`[step.${ctx.step}] transport = ${transport}: expected local or sftp`);
      return copyLocally(doc, ctx);
    },
    async close() {
      await pools.sftp?.close();
    },
  };
}

/** transport = local: copy on this machine, hashing while writing. */
async function copyLocally(doc: DataFileDoc, {input, settings, signal, log}: StepContext): Promise<StepResult> {
  if (!input) throw new StepError(`document ${doc._id} has no original_file to transfer`);
  if (!settings.target_dir) throw new StepError(`[step] target_dir is not set for move_to_sps`);
  const dir = join(settings.target_dir, doc.run ?? 'unknown-run');
  const destination = join(dir, basename(input));
  const started = Date.now();
  const existing = await fileDigest(destination, signal);
  if (existing && existing.md5 === doc.md5sum) {
    log.verbose('already transferred', {path: destination});
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
