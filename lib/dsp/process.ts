import {createHash, randomBytes} from 'node:crypto';
import {open, rename, rm, type FileHandle} from 'node:fs/promises';
import {basename, dirname, join} from 'node:path';
import {StepError} from '../errors/index.js';
import {openRawFile} from '../raw/index.js';
import {minimumTraceSamples, resolveDspParameters, type DspOptions, type DspParameters} from './options.js';
import {formatPulseLine} from './results.js';
import {analyzeTrace} from './trace-analysis.js';

/** What {@link processRawFile} did; stored as the step's result. */
export interface ProcessSummary {
  /** The results file. */
  path: string;
  /** Its size in bytes. */
  bytes: number;
  /** Its md5, hex. */
  md5: string;
  /** Run and file id from the raw file's header. */
  run: string;
  file_id: number;
  /** Traces processed (lines written). */
  traces: number;
  /** Traces whose pulse passed the detection threshold. */
  pulses: number;
  /** Mean over traces of the pre-trigger rms; null for a file without traces. */
  mean_baseline_rms: number | null;
  /** Largest amplitude among detected pulses; null when none was detected. */
  max_amplitude: number | null;
  /** The filter settings applied, in samples. */
  filter: DspParameters;
}

/** Lines are gathered up to this size before each write. */
const WRITE_CHUNK_CHARS = 1 << 16;

/**
 * Streams an `.edwr` file through {@link analyzeTrace} and writes one JSON line per trace
 * (a `PulseRecord`) to `outputPath`. The results are written under a temporary name in the same
 * folder, synced and renamed, so `outputPath` holds either a complete file or nothing, and running again
 * overwrites it with identical bytes. The md5 is computed over the bytes as they are written.
 *
 * Corrupt input throws StepError (`retryable: false`) naming the file; a trace too short for the filter
 * also does. Bad options throw ConfigError. `signal` stops it between chunks; nothing is left behind.
 */
export async function processRawFile(
  inputPath: string,
  outputPath: string,
  options: DspOptions = {},
  signal?: AbortSignal,
): Promise<ProcessSummary> {
  const reader = await openRawFile(inputPath, {signal});
  let output: FileHandle | undefined;
  const temporary = join(dirname(outputPath), `.${basename(outputPath)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const {header} = reader;
    const filter = resolveDspParameters(options, header.sample_rate_hz);
    const needed = minimumTraceSamples(filter);
    if (header.samples_per_trace < needed) {
      throw new StepError(
        `cannot process ${inputPath}: traces of ${header.samples_per_trace} samples are shorter than baseline and filter need (${needed})`,
        {retryable: false},
      );
    }
    output = await open(temporary, 'wx');
    const hash = createHash('md5');
    let bytes = 0;
    let pending = '';
    const flush = async (): Promise<void> => {
      const data = Buffer.from(pending, 'utf8');
      pending = '';
      hash.update(data);
      await output!.write(data, 0, data.length, bytes);
      bytes += data.length;
    };

    let traces = 0;
    let pulses = 0;
    let rmsSum = 0;
    let maxAmplitude: number | null = null;
    for await (const trace of reader.traces()) {
      const found = analyzeTrace(trace.samples, filter);
      const line = formatPulseLine({
        file_id: header.file_id,
        trace: trace.index,
        channel: header.channels[trace.channel]!,
        time: header.start_time + trace.offsetSeconds + found.crossingSample / header.sample_rate_hz,
        amplitude: found.amplitude,
        baseline: found.baseline,
        baseline_rms: found.baselineRms,
        detected: found.detected,
      });
      traces++;
      rmsSum += found.baselineRms;
      if (found.detected) {
        pulses++;
        if (maxAmplitude === null || found.amplitude > maxAmplitude) maxAmplitude = found.amplitude;
      }
      pending += line;
      if (pending.length >= WRITE_CHUNK_CHARS) await flush();
    }
    if (pending !== '') await flush();
    // Sync before rename: after a crash the name points at complete results or at nothing.
    await output.sync();
    await output.close();
    output = undefined;
    await rename(temporary, outputPath);
    return {
      path: outputPath,
      bytes,
      md5: hash.digest('hex'),
      run: header.run,
      file_id: header.file_id,
      traces,
      pulses,
      mean_baseline_rms: traces > 0 ? rmsSum / traces : null,
      max_amplitude: maxAmplitude,
      filter,
    };
  } catch (error) {
    await output?.close().catch(() => undefined);
    await rm(temporary, {force: true});
    throw error;
  } finally {
    await reader.close();
  }
}
