import {createReadStream} from 'node:fs';
import {stat} from 'node:fs/promises';
import {hostname} from 'node:os';
import {posix} from 'node:path';
import {pipeline} from 'node:stream/promises';
import {StepError} from '../errors/index.js';
import {ensureRemoteDir, prefixMd5, remoteMd5, remoteSize, removeRemote, renameRemote} from './remote.js';
import type {SftpSession} from './session.js';
import {
  asStepError, elapsed, freshMd5, hashing, hashLocalFile, keepsPartial, temporaryName,
  type ExpectedFile, type TransferEnd, type TransferOptions, type TransferResult,
} from './transfer.js';

/**
 * Send a local file to `remoteDir/fileName`: skip when the final file already has the right size and
 * md5; else write its temporary name (see `temporaryName`), resuming from a partial file an earlier
 * attempt left there when its bytes hash like the same-length start of the local file; hash what
 * was read, verify the remote copy (read back, or `md5sum`), and rename it to the final name only
 * when size and md5 match. A mismatch removes the temporary file and throws a non-retryable
 * StepError with both checksums; a lost connection, a timeout or a stop leave it for the next attempt.
 */
export async function pushFile(session: SftpSession, localPath: string, remoteDir: string, fileName: string, expected: ExpectedFile, options: TransferOptions = {}): Promise<TransferResult> {
  const {signal, onProgress, log} = options;
  const started = performance.now();
  const final = posix.join(remoteDir, fileName);
  const temporary = temporaryName(final, options.partialKey ?? localPath);
  const source: TransferEnd = {host: hostname(), path: localPath};
  const destination: TransferEnd = {host: session.options.host, port: session.options.port, path: final};
  const verified = session.options.verify;

  const existingSize = await remoteSize(session, final, signal);
  if (existingSize !== undefined && (expected.bytes === undefined || existingSize === expected.bytes)) {
    const md5 = await remoteMd5(session, final, existingSize, options);
    if (md5 === expected.md5) {
      return {source, destination, bytes: existingSize, md5, ...elapsed(started, 0), skipped: true, verified, resumed: false, resumed_from: 0};
    }
  }
  const info = await stat(localPath).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') throw new StepError(`data file ${localPath} does not exist`, {cause: error});
    throw new StepError(`cannot read data file ${localPath}: ${error.code ?? String(error)}`, {retryable: true, cause: error});
  });
  // Not a regular file (a pipe): its size is known only once read, and nothing can be resumed.
  const localSize = info.isFile() ? info.size : undefined;
  if (localSize !== undefined && expected.bytes !== undefined && localSize !== expected.bytes) {
    throw new StepError(`data file ${localPath} changed since registration: ${localSize} bytes, expected ${expected.bytes}`);
  }
  await ensureRemoteDir(session, remoteDir, signal);

  let sent = freshMd5();
  let offset = 0;
  /** The remote copy's md5 when the partial file already was the whole file (no need to read it again). */
  let arrivedMd5: string | undefined;
  let bytes = 0;
  try {
    const partial = await remoteSize(session, temporary, signal);
    if (localSize !== undefined && partial !== undefined && partial > 0 && partial <= localSize) {
      const local = await hashLocalFile(localPath, sent, partial, signal);
      const localMd5 = sent.copy().digest('hex');
      const partialMd5 = await prefixMd5(session, temporary, partial, {...options, phase: 'prefix'});
      if (local === partial && partialMd5 === localMd5) {
        offset = partial;
        if (offset === localSize) arrivedMd5 = partialMd5;
        log?.info('resuming from a partial file', {path: temporary, bytes: offset});
      } else {
        sent = freshMd5();
        log?.info('partial file is not a prefix of the source: starting over', {path: temporary, bytes: partial});
      }
    }
    bytes = offset;
    onProgress?.({phase: 'send', bytes, totalBytes: expected.bytes});
    if (localSize === undefined || offset < localSize) {
      await session.guard(async (inner) => {
        try {
          await pipeline(
            // No `start` unless resuming: a pipe cannot seek, even to 0.
            createReadStream(localPath, {highWaterMark: 256 * 1024, ...(offset > 0 ? {start: offset} : {})}),
            hashing(sent, (n) => {
              bytes = offset + n;
              onProgress?.({phase: 'send', bytes, totalBytes: expected.bytes});
            }),
            // 'r+' writes over the partial file from `offset` on, keeping the verified bytes before it.
            session.client.createWriteStream(temporary, offset > 0 ? {flags: 'r+', start: offset} : {flags: 'w', mode: 0o644}),
            {signal: inner},
          );
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === 'ENOENT' && (error as NodeJS.ErrnoException).path === localPath) throw new StepError(`data file ${localPath} does not exist`, {cause: error});
          throw asStepError(error, `writing ${temporary}`, session);
        }
      }, signal);
    }
    const sentMd5 = sent.digest('hex');
    if (sentMd5 !== expected.md5 || (expected.bytes !== undefined && bytes !== expected.bytes)) {
      throw new StepError(`data file ${localPath} changed since registration: md5 ${sentMd5} (${bytes} bytes), expected ${expected.md5} (${expected.bytes ?? '?'} bytes)`);
    }
    // What arrived is checked, not what was sent: the remote file is hashed on its own.
    const arrivedBytes = await remoteSize(session, temporary, signal);
    arrivedMd5 ??= await remoteMd5(session, temporary, arrivedBytes, options);
    if (arrivedMd5 !== expected.md5 || arrivedBytes !== bytes) {
      throw new StepError(`copy of ${localPath} at ${session.where}:${temporary} does not match: md5 ${arrivedMd5} (${arrivedBytes ?? 0} bytes), expected ${expected.md5} (${bytes} bytes)`);
    }
    await renameRemote(session, temporary, final, signal);
  } catch (error) {
    // A refused copy goes; one cut short stays for the next attempt to resume from.
    if (!keepsPartial(error)) await removeRemote(session, temporary);
    throw error;
  }
  return {source, destination, bytes, md5: expected.md5, ...elapsed(started, bytes - offset), skipped: false, verified, resumed: offset > 0, resumed_from: offset};
}
