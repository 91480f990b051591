import {open, rename, rm} from 'node:fs/promises';
import {basename, dirname, join} from 'node:path';
import {randomBytes} from 'node:crypto';
import {
  PREAMBLE_BYTES,
  RAW_FORMAT_VERSION,
  RAW_MAGIC,
  TRACE_PREFIX_BYTES,
  canonicalHeader,
  headerProblem,
  traceRecordBytes,
  type RawHeader,
} from './format.js';

/** A trace to write: like {@link RawTrace}, but any numbers will do as samples. */
export interface RawTraceInput {
  /** Index into the header's `channels`. */
  channel: number;
  /** Seconds from the header's `start_time` to the trace's first sample. */
  offsetSeconds: number;
  /** Exactly `samples_per_trace` values; integers in [-32768, 32767] for `int16`, finite for `float32`. */
  samples: ArrayLike<number>;
}

export interface WriteRawOptions {
  /** Bytes gathered in memory before each write to disk. @default 1048576 */
  chunkBytes?: number;
  /** Stops writing between chunks; the partial file is removed. */
  signal?: AbortSignal;
}

/** What {@link writeRawFile} wrote. */
export interface WriteRawResult {
  path: string;
  bytes: number;
}

/** The 12-byte preamble and the JSON header, ready to write at offset 0. */
export function encodeRawHeader(header: RawHeader): Buffer {
  const json = Buffer.from(JSON.stringify(canonicalHeader(header)), 'utf8');
  const preamble = Buffer.alloc(PREAMBLE_BYTES);
  RAW_MAGIC.copy(preamble, 0);
  preamble.writeUInt16LE(RAW_FORMAT_VERSION, 4);
  preamble.writeUInt16LE(0, 6);
  preamble.writeUInt32LE(json.length, 8);
  return Buffer.concat([preamble, json]);
}

function encodeTrace(header: RawHeader, trace: RawTraceInput, index: number, target: Buffer, at: number): void {
  const where = `trace ${index}`;
  if (!Number.isInteger(trace.channel) || trace.channel < 0 || trace.channel >= header.channels.length) {
    throw new TypeError(`${where}: channel ${trace.channel} is not an index into ${header.channels.length} channels`);
  }
  if (!Number.isFinite(trace.offsetSeconds)) throw new TypeError(`${where}: offsetSeconds must be finite, got ${trace.offsetSeconds}`);
  const {samples} = trace;
  if (samples.length !== header.samples_per_trace) {
    throw new TypeError(`${where}: ${samples.length} samples, header says samples_per_trace ${header.samples_per_trace}`);
  }
  target.writeUInt16LE(trace.channel, at);
  target.writeUInt16LE(0, at + 2);
  target.writeDoubleLE(trace.offsetSeconds, at + 4);
  let offset = at + TRACE_PREFIX_BYTES;
  if (header.sample_format === 'int16') {
    for (let i = 0; i < samples.length; i++, offset += 2) {
      const value = samples[i]!;
      if (!Number.isInteger(value) || value < -32768 || value > 32767) {
        throw new TypeError(`${where}: sample ${i} is ${value}, not an int16`);
      }
      target.writeInt16LE(value, offset);
    }
  } else {
    for (let i = 0; i < samples.length; i++, offset += 4) {
      const value = samples[i]!;
      if (!Number.isFinite(value)) throw new TypeError(`${where}: sample ${i} is ${value}, not finite`);
      target.writeFloatLE(value, offset);
    }
  }
}

/**
 * Writes an `.edwr` file: the header, then exactly `header.trace_count` traces from `traces`.
 * The file appears under `path` only when complete (written under a temporary name in the same folder,
 * synced, then renamed), so a reader never sees half a file. Writing the same header and traces twice
 * gives byte-identical files. Throws TypeError for a header or trace that does not fit the format.
 */
export async function writeRawFile(
  path: string,
  header: RawHeader,
  traces: Iterable<RawTraceInput> | AsyncIterable<RawTraceInput>,
  options: WriteRawOptions = {},
): Promise<WriteRawResult> {
  const problem = headerProblem(header);
  if (problem !== undefined) throw new TypeError(`cannot write ${path}: ${problem}`);
  const chunkBytes = options.chunkBytes ?? 1 << 20;
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1) throw new TypeError(`writeRawFile option chunkBytes: expected a positive integer, got ${chunkBytes}`);
  options.signal?.throwIfAborted();

  const recordBytes = traceRecordBytes(header);
  const recordsPerChunk = Math.max(1, Math.floor(chunkBytes / recordBytes));
  const chunk = Buffer.alloc(recordsPerChunk * recordBytes);
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temporary, 'wx');
  let bytes = 0;
  try {
    const head = encodeRawHeader(header);
    await handle.write(head, 0, head.length, 0);
    bytes = head.length;
    let count = 0;
    let filled = 0;
    for await (const trace of traces) {
      if (count === header.trace_count) throw new TypeError(`cannot write ${path}: more traces than trace_count ${header.trace_count}`);
      encodeTrace(header, trace, count, chunk, filled * recordBytes);
      count++;
      if (++filled === recordsPerChunk) {
        options.signal?.throwIfAborted();
        await handle.write(chunk, 0, chunk.length, bytes);
        bytes += chunk.length;
        filled = 0;
      }
    }
    if (filled > 0) {
      await handle.write(chunk, 0, filled * recordBytes, bytes);
      bytes += filled * recordBytes;
    }
    if (count !== header.trace_count) throw new TypeError(`cannot write ${path}: ${count} traces given, trace_count is ${header.trace_count}`);
    // Sync before rename: after a crash the name points at complete data or at nothing.
    await handle.sync();
    await handle.close();
    await rename(temporary, path);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(temporary, {force: true});
    throw error;
  }
  return {path, bytes};
}
