import {createHash} from 'node:crypto';
import {createReadStream, createWriteStream} from 'node:fs';
import {mkdir, rename, rm, stat} from 'node:fs/promises';
import {dirname, posix} from 'node:path';
import {Transform} from 'node:stream';
import {pipeline} from 'node:stream/promises';
import {EdwError} from '../errors/index.js';
import {SftpPool, type SftpOptions} from '../transfer/index.js';
import type {BundleSource} from './locate.js';

/** How to reach files that live on another host: the SFTP settings of the configured transport. */
export interface RemoteAccess {
  /** Settings for a host; the host itself comes from the recorded entry. */
  options: Omit<SftpOptions, 'host'>;
  /** The host the transport is configured for: only files recorded on it can be fetched. */
  host: string;
  /** SSH connections at once. @default 2 */
  connections?: number;
}

/** A file of the bundle whose bytes are not what its entry recorded. */
export class ChecksumError extends EdwError {
  override name = 'ChecksumError';
}

/** Copies files into a bundle, verifying each against its recorded md5 on the way in. */
export class Fetcher {
  readonly #remote: RemoteAccess | undefined;
  #pool: SftpPool | undefined;

  constructor(remote?: RemoteAccess) {
    this.#remote = remote;
  }

  /** Fetch `source` to `target`, hashed as written under a temporary name, renamed only when it matches. Returns its size. */
  async fetch(source: BundleSource, target: string, signal?: AbortSignal): Promise<number> {
    await mkdir(dirname(target), {recursive: true});
    let from = source.from;
    if (!from.host && source.alternative && !(await stat(from.path).catch(() => null))) from = source.alternative.from;
    if (from.host) return this.#pull(source, from as {host: string; path: string}, target, signal);
    const partial = `${target}.edw-partial`;
    const hash = createHash('md5');
    let bytes = 0;
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        bytes += chunk.length;
        done(null, chunk);
      },
    });
    try {
      await pipeline(createReadStream(from.path), hashing, createWriteStream(partial), {signal});
    } catch (error) {
      await rm(partial, {force: true});
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new EdwError(`${from.path} (document ${source.id}) does not exist on this host: the bundle is stopped`, {cause: error});
      throw error;
    }
    const md5 = hash.digest('hex');
    if (md5 !== source.md5 || (source.bytes !== undefined && bytes !== source.bytes)) {
      await rm(partial, {force: true});
      throw new ChecksumError(`${from.path} (document ${source.id}) has md5 ${md5} (${bytes} bytes), its entry records ${source.md5}${source.bytes !== undefined ? ` (${source.bytes} bytes)` : ''}: the bundle is stopped, no archive written`);
    }
    await rename(partial, target);
    return bytes;
  }

  async #pull(source: BundleSource, from: {host: string; path: string}, target: string, signal?: AbortSignal): Promise<number> {
    const remote = this.#remote;
    if (!remote || remote.host !== from.host) {
      throw new EdwError(`${from.path} (document ${source.id}) is on ${from.host}, and no step's transport = sftp is configured for that host`);
    }
    this.#pool ??= new SftpPool({connectionsPerHost: remote.connections ?? 2, idleMs: 30_000});
    const {session, release} = await this.#pool.acquire({...remote.options, host: from.host}, {signal});
    try {
      // pullFile hashes as it writes, resumes a verified partial file, renames only on a match.
      const result = await session.pull(from.path, dirname(target), posix.basename(target), {md5: source.md5, bytes: source.bytes}, {signal, partialKey: source.id});
      return result.bytes;
    } catch (error) {
      if (/md5/i.test((error as Error).message)) throw new ChecksumError(`${(error as Error).message} (document ${source.id}): the bundle is stopped, no archive written`, {cause: error});
      throw error;
    } finally {
      release();
    }
  }

  async close(): Promise<void> {
    await this.#pool?.close();
  }
}
