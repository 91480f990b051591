import {open, type FileHandle} from 'node:fs/promises';
import {StepError} from '../errors/index.js';
import {
  MAX_HEADER_BYTES,
  PREAMBLE_BYTES,
  RAW_FORMAT_VERSION,
  RAW_MAGIC,
  TRACE_PREFIX_BYTES,
  expectedFileBytes,
  headerProblem,
  traceRecordBytes,
  type RawHeader,
  type RawTrace,
} from './format.js';

export interface RawReaderOptions {
  /**
   * Bytes read per call; whole trace records are read, at least one per call, so memory stays at about
   * this much whatever the file size. @default 1048576
   */
  chunkBytes?: number;
  /** Stops reading between chunks, rejecting with the signal's reason. */
  signal?: AbortSignal;
}

/** A trace as read, with its place in the file. */
export interface RawTraceRecord extends RawTrace {
  /** Position of the trace in the file, from 0. */
  index: number;
  /** Byte offset of the trace record in the file. */
  byteOffset: number;
}

/** An open `.edwr` file whose header has been checked against the file's size. */
export interface RawFileReader extends AsyncIterable<RawTraceRecord> {
  readonly path: string;
  readonly header: RawHeader;
  /** Bytes of the whole file. */
  readonly bytes: number;
  /** Byte offset of the first trace record. */
  readonly dataOffset: number;
  /** Reads the traces in order, in chunks, checking each; may be called again to re-read. */
  traces(): AsyncGenerator<RawTraceRecord>;
  /** Closes the file; safe to call more than once. */
  close(): Promise<void>;
}

const corrupt = (path: string, problem: string, cause?: unknown): StepError =>
  new StepError(`corrupt raw file ${path}: ${problem}`, {retryable: false, cause});

async function readExactly(handle: FileHandle, length: number, position: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const {bytesRead} = await handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? buffer : buffer.subarray(0, done);
}

async function readHeader(path: string, handle: FileHandle, bytes: number): Promise<{header: RawHeader; dataOffset: number}> {
  if (bytes < PREAMBLE_BYTES) throw corrupt(path, `truncated: ${bytes} bytes, shorter than the ${PREAMBLE_BYTES}-byte preamble`);
  const preamble = await readExactly(handle, PREAMBLE_BYTES, 0);
  if (preamble.length < PREAMBLE_BYTES) throw corrupt(path, `truncated while reading the preamble at byte ${preamble.length}`);
  if (!preamble.subarray(0, 4).equals(RAW_MAGIC)) {
    throw corrupt(path, `bad magic 0x${preamble.subarray(0, 4).toString('hex')} at byte 0, expected "EDWR" (0x${RAW_MAGIC.toString('hex')})`);
  }
  const version = preamble.readUInt16LE(4);
  if (version !== RAW_FORMAT_VERSION) throw corrupt(path, `unknown format version ${version} at byte 4 (this edw reads version ${RAW_FORMAT_VERSION})`);
  const headerBytes = preamble.readUInt32LE(8);
  if (headerBytes > MAX_HEADER_BYTES) throw corrupt(path, `header length ${headerBytes} at byte 8 exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (PREAMBLE_BYTES + headerBytes > bytes) {
    throw corrupt(path, `truncated: header length ${headerBytes} at byte 8 runs past the end of the file (${bytes} bytes)`);
  }
  const text = await readExactly(handle, headerBytes, PREAMBLE_BYTES);
  if (text.length < headerBytes) throw corrupt(path, `truncated while reading the header at byte ${PREAMBLE_BYTES + text.length}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', {fatal: true}).decode(text));
  } catch (error) {
    throw corrupt(path, `header at byte ${PREAMBLE_BYTES} is not valid UTF-8 JSON`, error);
  }
  const problem = headerProblem(parsed);
  if (problem !== undefined) throw corrupt(path, problem);
  const header = parsed as RawHeader;
  const dataOffset = PREAMBLE_BYTES + headerBytes;
  const expected = expectedFileBytes(header, headerBytes);
  const recordBytes = traceRecordBytes(header);
  if (bytes < expected) {
    const complete = Math.floor((bytes - dataOffset) / recordBytes);
    throw corrupt(
      path,
      `truncated: header declares ${header.trace_count} traces (${expected} bytes), file has ${bytes} bytes; ` +
        `trace ${complete} at byte ${dataOffset + complete * recordBytes} is incomplete`,
    );
  }
  if (bytes > expected) {
    throw corrupt(
      path,
      `size ${bytes} bytes disagrees with header: ${header.trace_count} traces of ${recordBytes} bytes end at byte ${expected}`,
    );
  }
  return {header, dataOffset};
}

function decodeTrace(path: string, header: RawHeader, chunk: Buffer, at: number, index: number, byteOffset: number): RawTraceRecord {
  const channel = chunk.readUInt16LE(at);
  if (channel >= header.channels.length) {
    throw corrupt(path, `trace ${index} at byte ${byteOffset}: channel index ${channel} out of range (${header.channels.length} channels)`);
  }
  const offsetSeconds = chunk.readDoubleLE(at + 4);
  if (!Number.isFinite(offsetSeconds)) throw corrupt(path, `trace ${index} at byte ${byteOffset + 4}: offset is ${offsetSeconds}`);
  const count = header.samples_per_trace;
  const first = at + TRACE_PREFIX_BYTES;
  if (header.sample_format === 'int16') {
    const samples = new Int16Array(count);
    for (let i = 0; i < count; i++) samples[i] = chunk.readInt16LE(first + 2 * i);
    return {index, byteOffset, channel, offsetSeconds, samples};
  }
  const samples = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const value = chunk.readFloatLE(first + 4 * i);
    if (!Number.isFinite(value)) {
      throw corrupt(path, `trace ${index} sample ${i} at byte ${byteOffset + TRACE_PREFIX_BYTES + 4 * i} is ${value}`);
    }
    samples[i] = value;
  }
  return {index, byteOffset, channel, offsetSeconds, samples};
}

/**
 * Opens an `.edwr` file and checks its preamble, header and size. Corrupt input (bad magic, unknown
 * version, a header that is not JSON or lacks a field, a size that disagrees with the header, and while
 * iterating a bad channel index or a NaN sample) throws a StepError (`retryable: false`) whose one-line
 * message names the file, what is wrong and the byte offset; so does a missing file. Other fs errors pass as they are.
 */
export async function openRawFile(path: string, options: RawReaderOptions = {}): Promise<RawFileReader> {
  const chunkBytes = options.chunkBytes ?? 1 << 20;
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1) throw new TypeError(`openRawFile option chunkBytes: expected a positive integer, got ${chunkBytes}`);
  const {signal} = options;
  signal?.throwIfAborted();
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    // A missing input will not appear by retrying the step; other fs errors (EACCES, EIO) pass as they are.
    if ((error as {code?: unknown}).code === 'ENOENT') throw new StepError(`raw file ${path} does not exist`, {retryable: false, cause: error});
    throw error;
  }
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await handle.close();
  };
  try {
    const {size: bytes} = await handle.stat();
    const {header, dataOffset} = await readHeader(path, handle, bytes);
    const recordBytes = traceRecordBytes(header);
    const recordsPerChunk = Math.max(1, Math.floor(chunkBytes / recordBytes));

    async function* traces(): AsyncGenerator<RawTraceRecord> {
      const chunk = Buffer.alloc(recordsPerChunk * recordBytes);
      for (let index = 0; index < header.trace_count; ) {
        signal?.throwIfAborted();
        if (closed) throw new Error(`raw file ${path} was closed while reading`);
        const records = Math.min(recordsPerChunk, header.trace_count - index);
        const position = dataOffset + index * recordBytes;
        const want = records * recordBytes;
        let got = 0;
        while (got < want) {
          const {bytesRead} = await handle.read(chunk, got, want - got, position + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        // The size was checked at open; a short read here means the file shrank since.
        if (got < want) throw corrupt(path, `truncated: file ends at byte ${position + got} inside trace ${index + Math.floor(got / recordBytes)}`);
        for (let r = 0; r < records; r++, index++) {
          yield decodeTrace(path, header, chunk, r * recordBytes, index, position + r * recordBytes);
        }
      }
    }

    return {path, header, bytes, dataOffset, traces, close, [Symbol.asyncIterator]: traces};
  } catch (error) {
    await close();
    throw error;
  }
}

/** Reads every trace of an `.edwr` file in order, closing the file at the end or when the loop stops. */
export async function* readRawTraces(path: string, options: RawReaderOptions = {}): AsyncGenerator<RawTraceRecord> {
  const reader = await openRawFile(path, options);
  try {
    yield* reader.traces();
  } finally {
    await reader.close();
  }
}
