import {createHash, type Hash} from 'node:crypto';
import {createReadStream, createWriteStream} from 'node:fs';
import {mkdir, rename, rm} from 'node:fs/promises';
import {hostname} from 'node:os';
import {join, posix} from 'node:path';
import {Transform, Writable} from 'node:stream';
import {pipeline} from 'node:stream/promises';
import {StepError} from '../errors/index.js';
import {fileDigest} from '../files/index.js';
import {isNetworkError} from './network-error.js';
import type {SftpSession} from './session.js';

/** What the file must be: its md5 and, when known, its size. */
export interface ExpectedFile {
  md5: string;
  /** When undefined, the source's own size is taken (a document in the seed's shape may not record it). */
  bytes?: number;
}

/** Reported as bytes go: `send` while the file crosses, `verify` while its copy is checked (a first call with 0 bytes marks the start of each). */
export interface TransferProgress {
  phase: 'send' | 'verify';
  bytes: number;
  totalBytes: number | undefined;
}

export interface TransferOptions {
  /** Aborts the transfer (the session is then closed). */
  signal?: AbortSignal;
  /** Called for each chunk: throttle before logging. */
  onProgress?: (progress: TransferProgress) => void;
}

/** One end of a transfer. */
export interface TransferEnd {
  host: string;
  /** Set for the remote end. */
  port?: number;
  path: string;
}

/** What a transfer did, as recorded in the step's result. */
export interface TransferResult {
  source: TransferEnd;
  destination: TransferEnd;
  bytes: number;
  md5: string;
  seconds: number;
  bytes_per_second: number;
  /** The final file already had the right size and md5: nothing was sent. */
  skipped: boolean;
  /** How the destination was checked: `local` (hashed as written, pull), `read-back` or `command` (push). */
  verified: 'local' | 'read-back' | 'command';
}

/** The temporary name a file is written under until it is verified. Fixed, so a later attempt finds (and replaces) it. */
export function temporaryName(finalPath: string): string {
  return `${finalPath}.edw-partial`;
}

function hashing(hash: Hash, onBytes: (bytes: number) => void): Transform {
  let bytes = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      bytes += chunk.length;
      onBytes(bytes);
      done(null, chunk);
    },
  });
}

function quoteForShell(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** A low-level failure as a StepError: retryable when the link or the server went. */
function asStepError(error: unknown, what: string, session: SftpSession): unknown {
  if (error instanceof StepError || (error instanceof Error && error.name === 'AbortError')) return error;
  const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
  return new StepError(`${what} on ${session.where} failed: ${message}`, {retryable: isNetworkError(error), cause: error});
}

function elapsed(startedMs: number, bytes: number): {seconds: number; bytes_per_second: number} {
  const seconds = (performance.now() - startedMs) / 1000;
  return {seconds: Math.round(seconds * 1000) / 1000, bytes_per_second: seconds > 0 ? Math.round(bytes / seconds) : bytes};
}

async function remoteSize(session: SftpSession, path: string, signal: AbortSignal | undefined): Promise<number | undefined> {
  return session.guard(async () => {
    try {
      const stats = await session.client.stat(path);
      return stats.size;
    } catch (error) {
      if ((error as {code?: unknown}).code === 'ENOENT') return undefined;
      throw asStepError(error, `stat ${path}`, session);
    }
  }, signal);
}

/** The md5 of a remote file: read back over SFTP, or `md5sum` run on the host. */
async function remoteMd5(session: SftpSession, path: string, totalBytes: number | undefined, options: TransferOptions): Promise<string> {
  const {signal, onProgress} = options;
  onProgress?.({phase: 'verify', bytes: 0, totalBytes});
  if (session.options.verify === 'command') {
    const {code, stdout, stderr} = await session.guard(async (inner) => {
      try {
        return await session.exec(`md5sum -- ${quoteForShell(path)}`, inner);
      } catch (error) {
        throw asStepError(error, 'md5sum', session);
      }
    }, signal);
    const md5 = /^\\?([0-9a-f]{32})\s/.exec(stdout)?.[1];
    if (code !== 0 || !md5) {
      const reason = stderr.trim().split('\n').pop() || `exit ${String(code)}`;
      throw new StepError(`md5sum ${path} on ${session.where} failed (${reason}); an SFTP-only account needs verify = read-back`);
    }
    onProgress?.({phase: 'verify', bytes: totalBytes ?? 0, totalBytes});
    return md5;
  }
  const hash = createHash('md5');
  await session.guard(async (inner) => {
    try {
      await pipeline(
        session.client.createReadStream(path),
        hashing(hash, (bytes) => onProgress?.({phase: 'verify', bytes, totalBytes})),
        new Writable({write: (_chunk, _encoding, done) => done()}),
        {signal: inner},
      );
    } catch (error) {
      throw asStepError(error, `reading back ${path}`, session);
    }
  }, signal);
  return hash.digest('hex');
}

/** Replace `to` with `from` in one step where the server can (OpenSSH's posix-rename), else remove then rename. */
async function renameRemote(session: SftpSession, from: string, to: string, signal: AbortSignal | undefined): Promise<void> {
  await session.guard(async () => {
    try {
      await session.client.posixRename(from, to);
    } catch (posixError) {
      if (isNetworkError(posixError)) throw asStepError(posixError, `rename ${from}`, session);
      try {
        // Plain SFTP rename refuses an existing target.
        await session.client.delete(to, true);
        await session.client.rename(from, to);
      } catch (error) {
        throw asStepError(error, `rename ${from} to ${to}`, session);
      }
    }
  }, signal);
}

async function removeRemote(session: SftpSession, path: string): Promise<void> {
  if (!session.alive) return;
  await session.guard(() => session.client.delete(path, true)).catch(() => {});
}

/**
 * Send a local file to `remoteDir/fileName`: skip when the final file already has the right size and
 * md5; else write `fileName.edw-partial`, hash what was read, verify the remote copy (read back, or
 * `md5sum`), and rename it to the final name only when size and md5 match. A mismatch removes the
 * temporary file and throws a non-retryable StepError with both checksums.
 */
export async function pushFile(session: SftpSession, localPath: string, remoteDir: string, fileName: string, expected: ExpectedFile, options: TransferOptions = {}): Promise<TransferResult> {
  const {signal, onProgress} = options;
  const started = performance.now();
  const final = posix.join(remoteDir, fileName);
  const temporary = temporaryName(final);
  const source: TransferEnd = {host: hostname(), path: localPath};
  const destination: TransferEnd = {host: session.options.host, port: session.options.port, path: final};
  const verified = session.options.verify;

  const existingSize = await remoteSize(session, final, signal);
  if (existingSize !== undefined && (expected.bytes === undefined || existingSize === expected.bytes)) {
    const md5 = await remoteMd5(session, final, existingSize, options);
    if (md5 === expected.md5) {
      return {source, destination, bytes: existingSize, md5, ...elapsed(started, 0), bytes_per_second: 0, skipped: true, verified};
    }
  }

  await session.guard(async () => {
    // Transfers of one run on other connections create the same folders at the same moment: a
    // mkdir that fails because another got there first is not an error, so look again.
    for (let attempt = 1; ; attempt++) {
      try {
        if ((await session.client.exists(remoteDir)) === 'd') return;
        await session.client.mkdir(remoteDir, true);
        return;
      } catch (error) {
        if (attempt >= 3 || isNetworkError(error)) throw asStepError(error, `mkdir ${remoteDir}`, session);
      }
    }
  }, signal);

  const sent = createHash('md5');
  let bytes = 0;
  try {
    onProgress?.({phase: 'send', bytes: 0, totalBytes: expected.bytes});
    await session.guard(async (inner) => {
      try {
        await pipeline(
          createReadStream(localPath, {highWaterMark: 256 * 1024}),
          hashing(sent, (n) => {
            bytes = n;
            onProgress?.({phase: 'send', bytes: n, totalBytes: expected.bytes});
          }),
          session.client.createWriteStream(temporary, {flags: 'w', mode: 0o644}),
          {signal: inner},
        );
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' && (error as NodeJS.ErrnoException).path === localPath) throw new StepError(`data file ${localPath} does not exist`, {cause: error});
        throw asStepError(error, `writing ${temporary}`, session);
      }
    }, signal);
    const sentMd5 = sent.digest('hex');
    if (sentMd5 !== expected.md5 || (expected.bytes !== undefined && bytes !== expected.bytes)) {
      throw new StepError(`data file ${localPath} changed since registration: md5 ${sentMd5} (${bytes} bytes), expected ${expected.md5} (${expected.bytes ?? '?'} bytes)`);
    }
    // What arrived is checked, not what was sent: the remote file is hashed on its own.
    const arrivedBytes = await remoteSize(session, temporary, signal);
    const arrivedMd5 = await remoteMd5(session, temporary, arrivedBytes, options);
    if (arrivedMd5 !== expected.md5 || arrivedBytes !== bytes) {
      throw new StepError(`copy of ${localPath} at ${session.where}:${temporary} does not match: md5 ${arrivedMd5} (${arrivedBytes ?? 0} bytes), expected ${expected.md5} (${bytes} bytes)`);
    }
    await renameRemote(session, temporary, final, signal);
  } catch (error) {
    // A dead connection leaves its temporary file behind; the next attempt overwrites it.
    await removeRemote(session, temporary);
    throw error;
  }
  return {source, destination, bytes, md5: expected.md5, ...elapsed(started, bytes), skipped: false, verified};
}

/**
 * Fetch `remotePath` into `localDir/fileName`: skip when the final file already has the right size
 * and md5; else write `fileName.edw-partial` while hashing the bytes as they are written, and rename
 * it only when size and md5 match. A mismatch removes the temporary file and throws a non-retryable
 * StepError with both checksums.
 */
export async function pullFile(session: SftpSession, remotePath: string, localDir: string, fileName: string, expected: ExpectedFile, options: TransferOptions = {}): Promise<TransferResult> {
  const {signal, onProgress} = options;
  const started = performance.now();
  const final = join(localDir, fileName);
  const temporary = temporaryName(final);
  const source: TransferEnd = {host: session.options.host, port: session.options.port, path: remotePath};
  const destination: TransferEnd = {host: hostname(), path: final};

  const existing = await fileDigest(final, signal);
  if (existing && existing.md5 === expected.md5 && (expected.bytes === undefined || existing.bytes === expected.bytes)) {
    return {source, destination, bytes: existing.bytes, md5: existing.md5, ...elapsed(started, 0), bytes_per_second: 0, skipped: true, verified: 'local'};
  }

  const size = await remoteSize(session, remotePath, signal);
  if (size === undefined) throw new StepError(`data file ${remotePath} does not exist on ${session.where}`);
  if (expected.bytes !== undefined && size !== expected.bytes) {
    throw new StepError(`data file ${remotePath} on ${session.where} changed since registration: ${size} bytes, expected ${expected.bytes}`);
  }
  await mkdir(localDir, {recursive: true});
  const written = createHash('md5');
  let bytes = 0;
  try {
    onProgress?.({phase: 'send', bytes: 0, totalBytes: size});
    await session.guard(async (inner) => {
      try {
        await pipeline(
          session.client.createReadStream(remotePath),
          hashing(written, (n) => {
            bytes = n;
            onProgress?.({phase: 'send', bytes: n, totalBytes: size});
          }),
          createWriteStream(temporary),
          {signal: inner},
        );
      } catch (error) {
        throw asStepError(error, `reading ${remotePath}`, session);
      }
    }, signal);
    const md5 = written.digest('hex');
    if (md5 !== expected.md5 || bytes !== size) {
      throw new StepError(`copy of ${session.where}:${remotePath} at ${temporary} does not match: md5 ${md5} (${bytes} bytes), expected ${expected.md5} (${size} bytes)`);
    }
    await rename(temporary, final);
  } finally {
    await rm(temporary, {force: true});
  }
  return {source, destination, bytes, md5: expected.md5, ...elapsed(started, bytes), skipped: false, verified: 'local'};
}
