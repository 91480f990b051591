import {createWriteStream} from 'node:fs';
import {mkdir, rename, rm, stat} from 'node:fs/promises';
import {hostname} from 'node:os';
import {join} from 'node:path';
import {pipeline} from 'node:stream/promises';
import {StepError} from '../errors/index.js';
import {fileDigest} from '../files/index.js';
import {prefixMd5, remoteSize} from './remote.js';
import type {SftpSession} from './session.js';
import {
  asStepError, elapsed, freshMd5, hashing, hashLocalFile, keepsPartial, temporaryName,
  type ExpectedFile, type TransferEnd, type TransferOptions, type TransferResult,
} from './transfer.js';

/**
 * Fetch `remotePath` into `localDir/fileName`: skip when the final file already has the right size
 * and md5; else write its temporary name (see `temporaryName`) while hashing the bytes as they are
 * written, resuming from a partial file an earlier attempt left when its bytes hash like the
 * same-length start of the remote file, and rename it only when size and md5 match. A mismatch
 * removes the temporary file and throws a non-retryable StepError with both checksums; a lost
 * connection, a timeout or a stop leave it for the next attempt.
 */
export async function pullFile(session: SftpSession, remotePath: string, localDir: string, fileName: string, expected: ExpectedFile, options: TransferOptions = {}): Promise<TransferResult> {
  const {signal, onProgress, log} = options;
  const started = performance.now();
  const final = join(localDir, fileName);
  const temporary = temporaryName(final, options.partialKey ?? `${session.where}:${remotePath}`);
  const source: TransferEnd = {host: session.options.host, port: session.options.port, path: remotePath};
  const destination: TransferEnd = {host: hostname(), path: final};

  const existing = await fileDigest(final, signal);
  if (existing && existing.md5 === expected.md5 && (expected.bytes === undefined || existing.bytes === expected.bytes)) {
    return {source, destination, bytes: existing.bytes, md5: existing.md5, ...elapsed(started, 0), skipped: true, verified: 'local', resumed: false, resumed_from: 0};
  }

  const size = await remoteSize(session, remotePath, signal);
  if (size === undefined) throw new StepError(`data file ${remotePath} does not exist on ${session.where}`);
  if (expected.bytes !== undefined && size !== expected.bytes) {
    throw new StepError(`data file ${remotePath} on ${session.where} changed since registration: ${size} bytes, expected ${expected.bytes}`);
  }
  await mkdir(localDir, {recursive: true});
  let written = freshMd5();
  let offset = 0;
  let bytes = 0;
  try {
    const partial = (await stat(temporary).catch(() => undefined))?.size ?? 0;
    if (partial > 0 && partial <= size) {
      const local = await hashLocalFile(temporary, written, undefined, signal);
      const localMd5 = written.copy().digest('hex');
      const remoteMd5 = await prefixMd5(session, remotePath, size, {...options, prefixBytes: local, phase: 'prefix'});
      if (local === partial && remoteMd5 === localMd5) {
        offset = partial;
        log?.info('resuming from a partial file', {path: temporary, bytes: offset});
      } else {
        written = freshMd5();
        log?.info('partial file is not a prefix of the source: starting over', {path: temporary, bytes: partial});
      }
    }
    bytes = offset;
    onProgress?.({phase: 'send', bytes, totalBytes: size});
    if (offset < size) {
      await session.guard(async (inner) => {
        try {
          await pipeline(
            session.client.createReadStream(remotePath, {start: offset}),
            hashing(written, (n) => {
              bytes = offset + n;
              onProgress?.({phase: 'send', bytes, totalBytes: size});
            }),
            // 'r+' writes over the partial file from `offset` on, keeping the verified bytes before it.
            createWriteStream(temporary, offset > 0 ? {flags: 'r+', start: offset} : {flags: 'w'}),
            {signal: inner},
          );
        } catch (error) {
          throw asStepError(error, `reading ${remotePath}`, session);
        }
      }, signal);
    }
    const md5 = written.digest('hex');
    if (md5 !== expected.md5 || bytes !== size) {
      throw new StepError(`copy of ${session.where}:${remotePath} at ${temporary} does not match: md5 ${md5} (${bytes} bytes), expected ${expected.md5} (${size} bytes)`);
    }
    await rename(temporary, final);
  } catch (error) {
    // A refused copy goes; one cut short stays for the next attempt to resume from.
    if (!keepsPartial(error)) await rm(temporary, {force: true});
    throw error;
  }
  return {source, destination, bytes, md5: expected.md5, ...elapsed(started, bytes - offset), skipped: false, verified: 'local', resumed: offset > 0, resumed_from: offset};
}
