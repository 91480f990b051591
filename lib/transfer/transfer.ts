import {createHash, type Hash} from 'node:crypto';
import {createReadStream} from 'node:fs';
import {Transform} from 'node:stream';
import {StepError} from '../errors/index.js';
import type {Logger} from '../log/index.js';
import {isNetworkError} from './network-error.js';
import type {SftpSession} from './session.js';

/** What the file must be: its md5 and, when known, its size. */
export interface ExpectedFile {
  md5: string;
  /** When undefined, the source's own size is taken (a document in the seed's shape may not record it). */
  bytes?: number;
}

/**
 * Reported as bytes go: `prefix` while a partial file left by an earlier attempt is hashed to decide
 * whether to resume from it, `send` while the file crosses, `verify` while its copy is checked. A
 * first call with 0 bytes marks the start of each; `bytes` counts from the start of the file (a
 * resumed `send` starts at the resumed offset).
 */
export interface TransferProgress {
  phase: 'prefix' | 'send' | 'verify';
  bytes: number;
  totalBytes: number | undefined;
}

export interface TransferOptions {
  /** Aborts the transfer (the session is then closed). */
  signal?: AbortSignal;
  /** Called for each chunk: throttle before logging. */
  onProgress?: (progress: TransferProgress) => void;
  /**
   * What makes the temporary name unique (edw gives the document id): transfers to one final path
   * with different keys never share a temporary file, and a later attempt with the same key finds
   * the one it left. @default the source path
   */
  partialKey?: string;
  /** Where a resume decision is logged (resumed from a partial file, or the partial discarded). @default nothing is logged */
  log?: Logger;
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
  /** The file's size. */
  bytes: number;
  md5: string;
  seconds: number;
  /** Bytes moved by this attempt (after `resumed_from`) per second. */
  bytes_per_second: number;
  /** The final file already had the right size and md5: nothing was sent. */
  skipped: boolean;
  /** How the destination was checked: `local` (hashed as written, pull), `read-back` or `command` (push). */
  verified: 'local' | 'read-back' | 'command';
  /** A partial file left by an earlier attempt was verified to be a prefix of the source and kept. */
  resumed: boolean;
  /** Bytes taken from that partial file (0 when not resumed). */
  resumed_from: number;
}

/**
 * The temporary name a file is written under until it is verified: `NAME.<8 hex>.edw-partial`, the hex
 * from `key`, so two documents whose files share a name and a destination folder never share it,
 * while the next attempt for the same document finds (and resumes from) the one it left.
 */
export function temporaryName(finalPath: string, key: string): string {
  return `${finalPath}.${createHash('sha256').update(key).digest('hex').slice(0, 8)}.edw-partial`;
}

/** A pass-through stream that hashes what crosses and reports the running byte count. */
export function hashing(hash: Hash, onBytes: (bytes: number) => void): Transform {
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

/** Feed the first `bytes` of a local file (all of it when undefined) into `hash`; returns how many bytes it had. */
export async function hashLocalFile(path: string, hash: Hash, bytes: number | undefined, signal?: AbortSignal, onBytes?: (bytes: number) => void): Promise<number> {
  if (bytes === 0) return 0;
  let read = 0;
  for await (const chunk of createReadStream(path, {highWaterMark: 256 * 1024, signal, ...(bytes !== undefined ? {end: bytes - 1} : {})})) {
    hash.update(chunk as Buffer);
    read += (chunk as Buffer).length;
    onBytes?.(read);
  }
  return read;
}

/** A low-level failure as a StepError: retryable when the link or the server went. */
export function asStepError(error: unknown, what: string, session: SftpSession): unknown {
  if (error instanceof StepError || (error instanceof Error && error.name === 'AbortError')) return error;
  const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
  return new StepError(`${what} on ${session.where} failed: ${message}`, {retryable: isNetworkError(error), cause: error});
}

/**
 * Whether a failed transfer's temporary file is worth keeping for the next attempt: yes when the link
 * went, the step timed out or was stopped; no when it was refused (a mismatch, a changed source).
 */
export function keepsPartial(error: unknown): boolean {
  return !(error instanceof StepError) || error.retryable;
}

export function elapsed(startedMs: number, bytesMoved: number): {seconds: number; bytes_per_second: number} {
  const seconds = (performance.now() - startedMs) / 1000;
  return {seconds: Math.round(seconds * 1000) / 1000, bytes_per_second: seconds > 0 ? Math.round(bytesMoved / seconds) : bytesMoved};
}

/** A hash of nothing yet, for a transfer that starts over. */
export function freshMd5(): Hash {
  return createHash('md5');
}
