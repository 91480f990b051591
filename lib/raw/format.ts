/**
 * The `.edwr` layout (docs/raw-format.md is the byte-by-byte description another program writes from):
 *
 *   offset 0   4 bytes   magic `EDWR` (0x45 0x44 0x57 0x52)
 *   offset 4   uint16    format version, 1
 *   offset 6   uint16    reserved, 0
 *   offset 8   uint32    header length H in bytes
 *   offset 12  H bytes   header, UTF-8 JSON object ({@link RawHeader})
 *   offset 12+H          trace_count trace records, each {@link TRACE_PREFIX_BYTES} bytes of prefix
 *                        (uint16 channel index, uint16 reserved, float64 offset seconds) then
 *                        samples_per_trace samples (int16 or float32)
 *
 * All integers and floats are little-endian.
 */

/** The four bytes every `.edwr` file starts with. */
export const RAW_MAGIC = Buffer.from('EDWR', 'ascii');
/** The one format version this code reads and writes. */
export const RAW_FORMAT_VERSION = 1;
/** File extension of edw raw data files. */
export const RAW_EXTENSION = '.edwr';
/** Bytes before the JSON header: magic, version, reserved, header length. */
export const PREAMBLE_BYTES = 12;
/** Bytes before a trace's samples: channel index, reserved, offset. */
export const TRACE_PREFIX_BYTES = 12;
/** Largest header accepted, so a corrupt length cannot make a reader allocate gigabytes. */
export const MAX_HEADER_BYTES = 1 << 20;

/** How samples are stored. */
export type SampleFormat = 'int16' | 'float32';

/** The JSON header of an `.edwr` file. Readers ignore keys they do not know. */
export interface RawHeader {
  /** Run name, e.g. `ma22a000`. */
  run: string;
  /** Number of this file within the run (the `nnn` of `<run>_<nnn>.edwr`). */
  file_id: number;
  /** Start of the file, epoch seconds (float). Trace offsets count from here. */
  start_time: number;
  /** Digitizer sample rate, hertz. */
  sample_rate_hz: number;
  /** Samples in every trace. */
  samples_per_trace: number;
  /** Channel names; a trace's channel index points into this list. */
  channels: string[];
  /** Traces in the file. */
  trace_count: number;
  /** Storage of each sample: `int16` (ADC counts) or `float32`. */
  sample_format: SampleFormat;
}

/** One digitized trace. */
export interface RawTrace {
  /** Index into the header's `channels`. */
  channel: number;
  /** Seconds from the header's `start_time` to the trace's first sample. */
  offsetSeconds: number;
  /** `samples_per_trace` samples, in the file's `sample_format`. */
  samples: Int16Array | Float32Array;
}

/** Bytes one sample takes in the given format. */
export function bytesPerSample(format: SampleFormat): number {
  return format === 'int16' ? 2 : 4;
}

/** Bytes of one trace record (prefix and samples). */
export function traceRecordBytes(header: Pick<RawHeader, 'samples_per_trace' | 'sample_format'>): number {
  return TRACE_PREFIX_BYTES + header.samples_per_trace * bytesPerSample(header.sample_format);
}

/** Size in bytes a file with this header and header length must have. */
export function expectedFileBytes(header: RawHeader, headerBytes: number): number {
  return PREAMBLE_BYTES + headerBytes + header.trace_count * traceRecordBytes(header);
}

const isCount = (value: unknown, min: number): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= min;

/**
 * What is wrong with a parsed header, as a short phrase (`"sample_rate_hz" must be a positive number`),
 * or undefined when it is a valid {@link RawHeader}. Shared by the reader (which wraps the phrase in a
 * StepError naming the file) and the writer (which refuses to write it).
 */
export function headerProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'header is not a JSON object';
  const header = value as Record<string, unknown>;
  const required = ['run', 'file_id', 'start_time', 'sample_rate_hz', 'samples_per_trace', 'channels', 'trace_count', 'sample_format'];
  const missing = required.filter((key) => !(key in header));
  if (missing.length > 0) return `header lacks ${missing.map((key) => `"${key}"`).join(', ')}`;
  if (typeof header.run !== 'string' || header.run === '') return 'header "run" must be a non-empty string';
  if (!isCount(header.file_id, 0)) return 'header "file_id" must be an integer >= 0';
  if (typeof header.start_time !== 'number' || !Number.isFinite(header.start_time)) return 'header "start_time" must be a finite number';
  if (typeof header.sample_rate_hz !== 'number' || !(header.sample_rate_hz > 0) || !Number.isFinite(header.sample_rate_hz)) {
    return 'header "sample_rate_hz" must be a positive number';
  }
  if (!isCount(header.samples_per_trace, 1)) return 'header "samples_per_trace" must be an integer >= 1';
  const channels = header.channels;
  if (!Array.isArray(channels) || channels.length === 0 || channels.length > 0xffff || !channels.every((name) => typeof name === 'string')) {
    return 'header "channels" must be a non-empty array of strings';
  }
  if (!isCount(header.trace_count, 0)) return 'header "trace_count" must be an integer >= 0';
  if (header.sample_format !== 'int16' && header.sample_format !== 'float32') return 'header "sample_format" must be "int16" or "float32"';
  return undefined;
}

/** The header's known fields, in a fixed order so the same header always encodes to the same bytes. */
export function canonicalHeader(header: RawHeader): RawHeader {
  const {run, file_id, start_time, sample_rate_hz, samples_per_trace, channels, trace_count, sample_format} = header;
  return {run, file_id, start_time, sample_rate_hz, samples_per_trace, channels: [...channels], trace_count, sample_format};
}
