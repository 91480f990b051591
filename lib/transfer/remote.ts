import {createHash} from 'node:crypto';
import {Writable} from 'node:stream';
import {pipeline} from 'node:stream/promises';
import {StepError} from '../errors/index.js';
import {isNetworkError} from './network-error.js';
import type {SftpSession} from './session.js';
import {asStepError, hashing, type TransferProgress} from './transfer.js';

/** File operations on the remote side of a session, each raced against the session's end (`guard`). */

function quoteForShell(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The size of a remote file, undefined when it does not exist. */
export async function remoteSize(session: SftpSession, path: string, signal: AbortSignal | undefined): Promise<number | undefined> {
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

export interface RemoteMd5Options {
  /** Hash only the first `prefixBytes` bytes. @default the whole file */
  prefixBytes?: number;
  /** The phase reported to `onProgress`. @default 'verify' */
  phase?: TransferProgress['phase'];
  signal?: AbortSignal;
  onProgress?: (progress: TransferProgress) => void;
}

/**
 * The md5 of a remote file (or of its first `prefixBytes`), by the session's `verify` setting: read
 * back over SFTP (`read-back`), or `md5sum` (with `head -c` for a prefix) run on the host (`command`).
 */
export async function remoteMd5(session: SftpSession, path: string, totalBytes: number | undefined, options: RemoteMd5Options = {}): Promise<string> {
  const {signal, onProgress, prefixBytes, phase = 'verify'} = options;
  const shown = prefixBytes === undefined ? totalBytes : prefixBytes;
  onProgress?.({phase, bytes: 0, totalBytes: shown});
  if (session.options.verify === 'command') {
    const command = prefixBytes === undefined ? `md5sum -- ${quoteForShell(path)}` : `head -c ${prefixBytes} -- ${quoteForShell(path)} | md5sum`;
    const {code, stdout, stderr} = await session.guard(async (inner) => {
      try {
        return await session.exec(command, inner);
      } catch (error) {
        throw asStepError(error, 'md5sum', session);
      }
    }, signal);
    const md5 = /^\\?([0-9a-f]{32})\s/.exec(stdout)?.[1];
    // For a prefix, md5sum succeeds on whatever head gave it: head's complaint is the failure.
    if (code !== 0 || !md5 || (prefixBytes !== undefined && stderr.trim() !== '')) {
      const reason = stderr.trim().split('\n').pop() || `exit ${String(code)}`;
      throw new StepError(`md5sum ${path} on ${session.where} failed (${reason}); an SFTP-only account needs verify = read-back`);
    }
    onProgress?.({phase, bytes: shown ?? 0, totalBytes: shown});
    return md5;
  }
  if (prefixBytes === 0) return createHash('md5').digest('hex');
  const hash = createHash('md5');
  await session.guard(async (inner) => {
    try {
      await pipeline(
        session.client.createReadStream(path, prefixBytes === undefined ? {} : {start: 0, end: prefixBytes - 1}),
        hashing(hash, (bytes) => onProgress?.({phase, bytes, totalBytes: shown})),
        new Writable({write: (_chunk, _encoding, done) => done()}),
        {signal: inner},
      );
    } catch (error) {
      throw asStepError(error, `reading back ${path}`, session);
    }
  }, signal);
  return hash.digest('hex');
}

/**
 * `remoteMd5` for deciding whether to resume: undefined, rather than a failure, when the remote side
 * cannot hash (no `md5sum` or `head` for the account): the transfer then starts over. A lost
 * connection still throws.
 */
export async function prefixMd5(session: SftpSession, path: string, totalBytes: number | undefined, options: RemoteMd5Options): Promise<string | undefined> {
  try {
    return await remoteMd5(session, path, totalBytes, options);
  } catch (error) {
    if (!(error instanceof StepError) || error.retryable) throw error;
    return undefined;
  }
}

/** Create `dir` (and its parents) unless it exists. */
export async function ensureRemoteDir(session: SftpSession, dir: string, signal: AbortSignal | undefined): Promise<void> {
  await session.guard(async () => {
    // Transfers of one run on other connections create the same folders at the same moment: a
    // mkdir that fails because another got there first is not an error, so look again.
    for (let attempt = 1; ; attempt++) {
      try {
        if ((await session.client.exists(dir)) === 'd') return;
        await session.client.mkdir(dir, true);
        return;
      } catch (error) {
        if (attempt >= 3 || isNetworkError(error)) throw asStepError(error, `mkdir ${dir}`, session);
      }
    }
  }, signal);
}

/** Replace `to` with `from` in one step where the server can (OpenSSH's posix-rename), else remove then rename. */
export async function renameRemote(session: SftpSession, from: string, to: string, signal: AbortSignal | undefined): Promise<void> {
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

/** Remove a remote file if the session is still up; failures are ignored (a later attempt replaces it). */
export async function removeRemote(session: SftpSession, path: string): Promise<void> {
  if (!session.alive) return;
  await session.guard(() => session.client.delete(path, true)).catch(() => {});
}
