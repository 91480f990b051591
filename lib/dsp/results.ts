import {createReadStream} from 'node:fs';
import {StringDecoder} from 'node:string_decoder';
import {StepError} from '../errors/index.js';

/** One line of a results file: what signal processing found in one trace. */
export interface PulseRecord {
  /** The raw file's `file_id`. */
  file_id: number;
  /** Trace index within the raw file. */
  trace: number;
  /** Channel name. */
  channel: string;
  /** Leading-edge time, epoch seconds: start_time + trace offset + crossing sample / sample rate. */
  time: number;
  /** Amplitude above baseline, ADC units (trapezoidal filter, pole-zero corrected). */
  amplitude: number;
  /** Mean of the pre-trigger samples. */
  baseline: number;
  /** Standard deviation of the pre-trigger samples. */
  baseline_rms: number;
  /** Whether the filter output passed the detection threshold; time and amplitude mean little when false. */
  detected: boolean;
}

export interface ReadPulsesOptions {
  /** Stops reading, rejecting with the signal's reason. */
  signal?: AbortSignal;
}

/** A results line is about 200 characters; anything this long is not one. */
const MAX_LINE_CHARS = 1 << 20;

const FIELDS: [keyof PulseRecord, (value: unknown) => boolean][] = [
  ['file_id', (value) => Number.isSafeInteger(value) && (value as number) >= 0],
  ['trace', (value) => Number.isSafeInteger(value) && (value as number) >= 0],
  ['channel', (value) => typeof value === 'string'],
  ['time', Number.isFinite],
  ['amplitude', Number.isFinite],
  ['baseline', Number.isFinite],
  ['baseline_rms', (value) => Number.isFinite(value) && (value as number) >= 0],
  ['detected', (value) => typeof value === 'boolean'],
];

/** One results line (JSON and a newline) for a record. */
export function formatPulseLine(record: PulseRecord): string {
  const {file_id, trace, channel, time, amplitude, baseline, baseline_rms, detected} = record;
  return `${JSON.stringify({file_id, trace, channel, time, amplitude, baseline, baseline_rms, detected})}\n`;
}

/** Parses and checks one results line; throws StepError naming the file and the line number. */
export function parsePulseLine(text: string, path: string, line: number): PulseRecord {
  const where = `corrupt results file ${path} line ${line}`;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new StepError(`${where}: not valid JSON`, {retryable: false, cause: error});
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new StepError(`${where}: not a JSON object`, {retryable: false});
  const record = value as Record<string, unknown>;
  for (const [field, valid] of FIELDS) {
    if (!(field in record)) throw new StepError(`${where}: lacks "${field}"`, {retryable: false});
    if (!valid(record[field])) throw new StepError(`${where}: bad "${field}" ${JSON.stringify(record[field])}`, {retryable: false});
  }
  return record as unknown as PulseRecord;
}

/**
 * Reads a results file (JSON Lines, one {@link PulseRecord} per trace) in order, streaming, so memory
 * does not grow with the file. A line that is not a complete, well-typed record throws StepError
 * (`retryable: false`) naming the file and the line number (from 1).
 */
export async function* readPulses(resultsPath: string, options: ReadPulsesOptions = {}): AsyncGenerator<PulseRecord> {
  const {signal} = options;
  signal?.throwIfAborted();
  const stream = createReadStream(resultsPath, {signal, highWaterMark: 1 << 16});
  const decoder = new StringDecoder('utf8');
  let pending = '';
  let line = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      pending += decoder.write(chunk);
      let start = 0;
      let newline: number;
      while ((newline = pending.indexOf('\n', start)) !== -1) {
        const text = pending.slice(start, newline);
        start = newline + 1;
        yield parsePulseLine(text, resultsPath, ++line);
      }
      pending = pending.slice(start);
      if (pending.length > MAX_LINE_CHARS) {
        throw new StepError(`corrupt results file ${resultsPath} line ${line + 1}: longer than ${MAX_LINE_CHARS} characters`, {retryable: false});
      }
    }
    pending += decoder.end();
    if (pending !== '') yield parsePulseLine(pending, resultsPath, ++line);
  } finally {
    stream.destroy();
  }
}
