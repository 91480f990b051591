import {mkdir, open, rename, rm, utimes, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import {ConfigError} from '../errors/index.js';
import {RAW_EXTENSION, writeRawFile, type RawHeader, type RawTraceInput, type SampleFormat} from '../raw/index.js';
import {SeededRandom} from './prng.js';
import {peakFraction, pulseValue, type PulseShape} from './pulse.js';

export {peakFraction, pulseValue, type PulseShape} from './pulse.js';

/** Channel names of simulated files, as in the seed's `conditions.volts`. */
/** The defaults of the options `edw simulate` exposes (its --help shows them). */
export const SIMULATE_DEFAULTS = {events: 20, seed: 1, noise: 5, run: 'ma22a000'} as const;

export const SIMULATED_CHANNELS = ['detector_a', 'detector_b'] as const;

export interface SimulateOptions {
  /** Folder the files are written to, flat; created if missing. */
  outDir: string;
  /**
   * Data files to write, one at a time: memory does not grow with their number (truth.json is
   * written file by file too). @default 1
   */
  files?: number;
  /** Pulses per file; each trace holds one. @default 20 */
  events?: number;
  /** PRNG seed: the same seed and options give byte-identical files. @default 1 */
  seed?: number;
  /** Gaussian noise sigma, ADC units. @default 5 */
  noise?: number;
  /** Run name; files are `<run>_<nnn>.edwr`. @default 'ma22a000' */
  run?: string;
  /**
   * Start of file 0, epoch seconds; file k starts `k * fileSeconds` later. A file's modification time
   * is the end of its acquisition (as a DAQ's would be), so the last one must end in the past.
   * @default 1378222673 (the seed document's datecreated)
   */
  startTime?: number;
  /** Seconds between the starts of consecutive files; a file's traces lie within it. @default 600 */
  fileSeconds?: number;
  /** Sample rate, hertz. @default 100000 */
  sampleRateHz?: number;
  /** Samples per trace. @default 2048 */
  samplesPerTrace?: number;
  /** Pulse rise time constant, seconds. @default 50e-6 */
  riseTauSeconds?: number;
  /** Pulse decay time constant, seconds. @default 1e-3 */
  decayTauSeconds?: number;
  /** Smallest amplitude, ADC units; amplitudes are log-uniform between this and maxAmplitude. @default 2 */
  minAmplitude?: number;
  /** Largest amplitude, ADC units. @default 1000 */
  maxAmplitude?: number;
  /** Sample storage. @default 'int16' */
  sampleFormat?: SampleFormat;
  /** Stops between files; files already written stay. */
  signal?: AbortSignal;
}

/** Paths {@link simulate} wrote. */
export interface SimulateResult {
  /** The `.edwr` data files, in file-id order. */
  files: string[];
  /** `conditions.json`. */
  conditions: string;
  /** `truth.json`. */
  truth: string;
}

/** One simulated pulse as recorded in `truth.json`. */
export interface TruthPulse {
  /** Trace index within the file. */
  trace: number;
  channel: string;
  /** Amplitude, ADC units (integral / decay constant, see {@link pulseValue}). */
  amplitude: number;
  /** Peak height above baseline of the noiseless pulse, ADC units. */
  peak: number;
  /** Pulse onset, epoch seconds. */
  time: number;
  /** Baseline the noise and pulse sit on, ADC units. */
  baseline: number;
}

/** The content of `truth.json`. */
export interface Truth {
  run: string;
  seed: number;
  noise: number;
  sample_rate_hz: number;
  rise_tau_s: number;
  decay_tau_s: number;
  files: {file_id: number; file: string; start_time: number; pulses: TruthPulse[]}[];
}

const BASELINES = [200, -150];

type Resolved = Required<Omit<SimulateOptions, 'signal'>>;

function resolveOptions(options: SimulateOptions): Resolved {
  const resolved: Resolved = {
    files: 1,
    ...SIMULATE_DEFAULTS,
    startTime: 1378222673,
    fileSeconds: 600,
    sampleRateHz: 100_000,
    samplesPerTrace: 2048,
    riseTauSeconds: 50e-6,
    decayTauSeconds: 1e-3,
    minAmplitude: 2,
    maxAmplitude: 1000,
    sampleFormat: 'int16',
    ...Object.fromEntries(Object.entries(options).filter(([key, value]) => value !== undefined && key !== 'signal')),
    outDir: options.outDir,
  };
  const bad = (name: string, expected: string): never => {
    throw new ConfigError(`simulate option ${name}: expected ${expected}, got ${JSON.stringify((resolved as Record<string, unknown>)[name])}`);
  };
  const isInt = (value: number, min: number, max = 1e9): boolean => Number.isSafeInteger(value) && value >= min && value <= max;
  const isPositive = (value: number): boolean => Number.isFinite(value) && value > 0;
  if (typeof resolved.outDir !== 'string' || resolved.outDir === '') bad('outDir', 'a folder path');
  if (!isInt(resolved.files, 1, Number.MAX_SAFE_INTEGER)) bad('files', 'a positive integer');
  if (!isInt(resolved.events, 0, 65535)) bad('events', 'an integer from 0 to 65535');
  if (!Number.isSafeInteger(resolved.seed)) bad('seed', 'an integer');
  if (!Number.isFinite(resolved.noise) || resolved.noise < 0) bad('noise', 'a number >= 0');
  if (!/^[\w.-]+$/.test(resolved.run)) bad('run', 'a name of letters, digits, "_", "-" or "."');
  if (!Number.isFinite(resolved.startTime)) bad('startTime', 'epoch seconds');
  if (!isPositive(resolved.sampleRateHz)) bad('sampleRateHz', 'a positive number');
  if (!isInt(resolved.samplesPerTrace, 64, 1 << 24)) bad('samplesPerTrace', 'an integer from 64 to 16777216');
  if (!isPositive(resolved.riseTauSeconds)) bad('riseTauSeconds', 'a positive number');
  if (!(resolved.decayTauSeconds > resolved.riseTauSeconds) || !Number.isFinite(resolved.decayTauSeconds)) {
    bad('decayTauSeconds', 'a number larger than riseTauSeconds');
  }
  if (!isPositive(resolved.minAmplitude)) bad('minAmplitude', 'a positive number');
  if (!(resolved.maxAmplitude >= resolved.minAmplitude) || !Number.isFinite(resolved.maxAmplitude)) bad('maxAmplitude', 'a number >= minAmplitude');
  if (resolved.sampleFormat !== 'int16' && resolved.sampleFormat !== 'float32') bad('sampleFormat', '"int16" or "float32"');
  const traceSeconds = resolved.samplesPerTrace / resolved.sampleRateHz;
  if (!(resolved.fileSeconds > traceSeconds) || !Number.isFinite(resolved.fileSeconds)) bad('fileSeconds', `a number larger than one trace (${traceSeconds} s)`);
  const acquiredUntil = resolved.startTime + resolved.files * resolved.fileSeconds;
  if (acquiredUntil * 1000 > Date.now()) {
    // Simulated files are dated when their acquisition ended (so `register` takes them at once): none may end in the future.
    bad('files', `at most ${Math.floor((Date.now() / 1000 - resolved.startTime) / resolved.fileSeconds)} from ${new Date(resolved.startTime * 1000).toISOString()} (${resolved.fileSeconds} s each; ${resolved.files} would end ${new Date(acquiredUntil * 1000).toISOString()}, in the future)`);
  }
  return resolved;
}

/**
 * `<run>_<nnn>.edwr`, nnn the file id zero-padded to `digits`.
 * @param digits at least 3; {@link simulate} gives as many as its largest id needs, so names sort in id order.
 */
export function rawFileName(run: string, fileId: number, digits = 3): string {
  return `${run}_${String(fileId).padStart(digits, '0')}${RAW_EXTENSION}`;
}

/** Write a small file under a temporary name, then rename it into place: it appears complete or not at all. */
async function writeWhole(path: string, text: string): Promise<void> {
  await writeFile(`${path}.partial`, text);
  await rename(`${path}.partial`, path);
}

/**
 * truth.json, written entry by entry, byte for byte what `JSON.stringify(truth, null, 1)` gives,
 * under a temporary name until {@link TruthWriter.finish}.
 */
class TruthWriter {
  readonly path: string;
  readonly #partial: string;
  #handle: Awaited<ReturnType<typeof open>> | undefined;
  #entries = 0;

  constructor(path: string) {
    this.path = path;
    this.#partial = `${path}.partial`;
  }

  async start(head: Omit<Truth, 'files'>): Promise<void> {
    this.#handle = await open(this.#partial, 'w');
    // The head without its closing "\n}", then the files array opened at the same indentation.
    await this.#handle.write(`${JSON.stringify(head, null, 1).slice(0, -2)},\n "files": [`);
  }

  async add(entry: Truth['files'][number]): Promise<void> {
    const indented = JSON.stringify(entry, null, 1).replace(/^/gm, '  ');
    await this.#handle!.write(`${this.#entries++ === 0 ? '\n' : ',\n'}${indented}`);
  }

  async finish(): Promise<void> {
    await this.#handle!.write(this.#entries === 0 ? ']\n}\n' : '\n ]\n}\n');
    await this.#handle!.close();
    this.#handle = undefined;
    await rename(this.#partial, this.path);
  }

  /** Drop the partial file (after a failure). */
  async abandon(): Promise<void> {
    await this.#handle?.close().catch(() => undefined);
    await rm(this.#partial, {force: true});
  }
}

/**
 * Simulates a run: writes `files` data files `<run>_<nnn>.edwr`, a `conditions.json` in the seed's shape
 * and a `truth.json` with every pulse's amplitude, onset time and baseline. Each trace holds one pulse
 * ({@link pulseValue}) whose onset is jittered uniformly between 30% and 55% of the trace, on a
 * per-channel baseline with gaussian noise; amplitudes are log-uniform in [minAmplitude, maxAmplitude],
 * so with the defaults some fall below a 5-sigma detection threshold. Deterministic for a seed.
 * Throws ConfigError naming a bad option.
 */
export async function simulate(options: SimulateOptions): Promise<SimulateResult> {
  const o = resolveOptions(options);
  const {signal} = options;
  signal?.throwIfAborted();
  await mkdir(o.outDir, {recursive: true});
  const random = new SeededRandom(o.seed);
  const shape: PulseShape = {riseTauSeconds: o.riseTauSeconds, decayTauSeconds: o.decayTauSeconds};
  const peakOfUnit = peakFraction(shape);
  const traceSeconds = o.samplesPerTrace / o.sampleRateHz;

  const conditions = {
    temperature: random.between(0.015, 0.02),
    volts: {detector_a: [8, -8, 2, -2], detector_b: [4, -4, 1.5, -1.5]},
  };
  const conditionsPath = join(o.outDir, 'conditions.json');
  await writeWhole(conditionsPath, `${JSON.stringify(conditions)}\n`);
  const truth = new TruthWriter(join(o.outDir, 'truth.json'));
  await truth.start({
    run: o.run,
    seed: o.seed,
    noise: o.noise,
    sample_rate_hz: o.sampleRateHz,
    rise_tau_s: o.riseTauSeconds,
    decay_tau_s: o.decayTauSeconds,
  });
  const digits = Math.max(3, String(o.files - 1).length);
  const files: string[] = [];
  try {
    for (let fileId = 0; fileId < o.files; fileId++) {
      signal?.throwIfAborted();
      const name = rawFileName(o.run, fileId, digits);
      const startTime = o.startTime + fileId * o.fileSeconds;
      const offsets = Array.from({length: o.events}, () => random.between(0, o.fileSeconds - traceSeconds)).sort((a, b) => a - b);
      const pulses: TruthPulse[] = [];
      const header: RawHeader = {
        run: o.run,
        file_id: fileId,
        start_time: startTime,
        sample_rate_hz: o.sampleRateHz,
        samples_per_trace: o.samplesPerTrace,
        channels: [...SIMULATED_CHANNELS],
        trace_count: o.events,
        sample_format: o.sampleFormat,
      };
      function* traces(): Generator<RawTraceInput> {
        for (let trace = 0; trace < o.events; trace++) {
          const channel = random.index(SIMULATED_CHANNELS.length);
          const amplitude = Math.exp(random.between(Math.log(o.minAmplitude), Math.log(o.maxAmplitude)));
          const onsetSeconds = random.between(0.3, 0.55) * traceSeconds;
          const baseline = BASELINES[channel]! + random.between(-20, 20);
          const samples = o.sampleFormat === 'int16' ? new Int16Array(o.samplesPerTrace) : new Float32Array(o.samplesPerTrace);
          for (let i = 0; i < samples.length; i++) {
            const value = baseline + pulseValue(amplitude, i / o.sampleRateHz - onsetSeconds, shape) + o.noise * random.gaussian();
            samples[i] = o.sampleFormat === 'int16' ? Math.max(-32768, Math.min(32767, Math.round(value))) : value;
          }
          const offsetSeconds = offsets[trace]!;
          pulses.push({
            trace,
            channel: SIMULATED_CHANNELS[channel]!,
            amplitude,
            peak: amplitude * peakOfUnit,
            time: startTime + offsetSeconds + onsetSeconds,
            baseline,
          });
          yield {channel, offsetSeconds, samples};
        }
      }
      // Complete when it appears under its name, and dated when its acquisition ended: a simulated
      // file has nothing left to settle, so `edw register` takes it at once (the settle rule is for
      // files a DAQ may still be writing). The hidden name does not match a data-file glob meanwhile.
      const path = join(o.outDir, name);
      const partial = join(o.outDir, `.${name}.partial`);
      await writeRawFile(partial, header, traces(), {signal});
      try {
        const acquired = new Date((startTime + o.fileSeconds) * 1000);
        await utimes(partial, acquired, acquired);
        await rename(partial, path);
      } catch (error) {
        await rm(partial, {force: true});
        throw error;
      }
      files.push(path);
      await truth.add({file_id: fileId, file: name, start_time: startTime, pulses});
    }
    await truth.finish();
  } catch (error) {
    await truth.abandon();
    throw error;
  }
  return {files, conditions: conditionsPath, truth: truth.path};
}
