import test, {type ExecutionContext} from 'ava';
import {createHash} from 'node:crypto';
import {mkdtemp, readFile, readdir, rm, stat, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {ConfigError, StepError} from '../lib/errors/index.js';
import {openRawFile, readRawTraces, writeRawFile, type RawHeader} from '../lib/raw/index.js';
import {simulate, type Truth} from '../lib/simulate/index.js';
import {processRawFile, readPulses, type PulseRecord} from '../lib/dsp/index.js';

// The tolerances docs/raw-format.md states, at the simulator's default noise (sigma 5 ADC).
const NOISE_ADC = 5;
const AMPLITUDE_TOLERANCE_ADC = 8;
const BASELINE_TOLERANCE_ADC = 1.5;
const BASELINE_RMS_TOLERANCE = 0.2;
const TIMED_ABOVE_ADC = 10;
const timeToleranceUs = (amplitude: number): number => 10 + 1500 / amplitude;

async function temporaryDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'edw-dsp-'));
  t.teardown(() => rm(dir, {recursive: true, force: true}));
  return dir;
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

async function md5Of(path: string): Promise<string> {
  return createHash('md5').update(await readFile(path)).digest('hex');
}

for (const sampleFormat of ['int16', 'float32'] as const) {
  test(`every pulse recovered from ${sampleFormat} files matches truth.json within the documented tolerances`, async (t) => {
    const dir = await temporaryDir(t);
    const sim = await simulate({outDir: dir, files: 4, events: 60, seed: 42, noise: NOISE_ADC, sampleFormat});
    const truth = JSON.parse(await readFile(sim.truth, 'utf8')) as Truth;
    const delayUs = truth.rise_tau_s * Math.log(2) * 1e6;
    let timed = 0;
    for (const [index, file] of sim.files.entries()) {
      const summary = await processRawFile(file, join(dir, `results_${index}.jsonl`));
      const pulses = await collect(readPulses(summary.path));
      const expected = truth.files[index]!.pulses;
      t.is(pulses.length, expected.length);
      for (const [trace, found] of pulses.entries()) {
        const real = expected[trace]!;
        const where = `file ${index} trace ${trace} (amplitude ${real.amplitude.toFixed(1)})`;
        t.is(found.trace, trace);
        t.is(found.channel, real.channel, where);
        t.true(Math.abs(found.baseline - real.baseline) <= BASELINE_TOLERANCE_ADC, `${where}: baseline ${found.baseline} vs ${real.baseline}`);
        t.true(Math.abs(found.baseline_rms / NOISE_ADC - 1) <= BASELINE_RMS_TOLERANCE, `${where}: baseline rms ${found.baseline_rms}`);
        if (real.amplitude >= TIMED_ABOVE_ADC) t.true(found.detected, `${where}: not detected`);
        if (!found.detected) continue;
        t.true(Math.abs(found.amplitude - real.amplitude) <= AMPLITUDE_TOLERANCE_ADC, `${where}: amplitude ${found.amplitude}`);
        if (real.amplitude < TIMED_ABOVE_ADC) continue;
        const errorUs = (found.time - real.time) * 1e6 - delayUs;
        t.true(Math.abs(errorUs) <= timeToleranceUs(real.amplitude), `${where}: time off by ${errorUs.toFixed(1)} µs`);
        timed++;
      }
    }
    // The spread reaches below the threshold, and most of the pulses are timed.
    const all = truth.files.flatMap((file) => file.pulses);
    t.true(all.some((pulse) => pulse.amplitude < 4));
    t.true(timed > all.length / 2);
  });
}

test('pulses far below the detection threshold are rarely reported as detected', async (t) => {
  const dir = await temporaryDir(t);
  const sim = await simulate({outDir: dir, files: 1, events: 400, seed: 5, minAmplitude: 0.5, maxAmplitude: 2.5});
  const summary = await processRawFile(sim.files[0]!, join(dir, 'results.jsonl'));
  t.is(summary.traces, 400);
  t.true(summary.pulses <= 400 * 0.05, `${summary.pulses} of 400 detected`);
});

test('the summary counts traces and detected pulses and gives the size and md5 of the results file', async (t) => {
  const dir = await temporaryDir(t);
  const sim = await simulate({outDir: dir, files: 1, events: 30, seed: 3});
  const output = join(dir, 'out.jsonl');
  const summary = await processRawFile(sim.files[0]!, output, {thresholdSigma: 6});
  const pulses = await collect(readPulses(output));
  t.is(summary.path, output);
  t.is(summary.run, 'ma22a000');
  t.is(summary.file_id, 0);
  t.is(summary.traces, 30);
  t.is(summary.pulses, pulses.filter((pulse) => pulse.detected).length);
  t.is(summary.max_amplitude, Math.max(...pulses.filter((pulse) => pulse.detected).map((pulse) => pulse.amplitude)));
  t.true(Math.abs(summary.mean_baseline_rms! - NOISE_ADC) < 0.5);
  t.is(summary.bytes, (await stat(output)).size);
  t.is(summary.md5, await md5Of(output));
  t.is(summary.filter.threshold_sigma, 6);
  t.is(summary.filter.rise_samples, 50);
  t.deepEqual(await readdir(dir).then((names) => names.filter((name) => name.endsWith('.tmp'))), []);
  // Running again gives the same bytes: the step is idempotent.
  t.is((await processRawFile(sim.files[0]!, output, {thresholdSigma: 6})).md5, summary.md5);
});

test('the simulator writes the same bytes for the same seed and different bytes for another', async (t) => {
  const [first, second, other] = await Promise.all([temporaryDir(t), temporaryDir(t), temporaryDir(t)]);
  const a = await simulate({outDir: first, files: 2, events: 5, seed: 11});
  const b = await simulate({outDir: second, files: 2, events: 5, seed: 11});
  const c = await simulate({outDir: other, files: 2, events: 5, seed: 12});
  for (const key of ['conditions', 'truth'] as const) t.is(await md5Of(a[key]), await md5Of(b[key]));
  for (const [index, file] of a.files.entries()) {
    t.is(await md5Of(file), await md5Of(b.files[index]!));
    t.not(await md5Of(file), await md5Of(c.files[index]!));
  }
});

test('the simulator names files by run and file id, writes seed-shaped conditions and later start times', async (t) => {
  const dir = await temporaryDir(t);
  const sim = await simulate({outDir: dir, files: 3, events: 2, run: 'ab12c000', startTime: 1_700_000_000});
  t.deepEqual(sim.files, ['ab12c000_000.edwr', 'ab12c000_001.edwr', 'ab12c000_002.edwr'].map((name) => join(dir, name)));
  const conditions = JSON.parse(await readFile(sim.conditions, 'utf8'));
  t.is(typeof conditions.temperature, 'number');
  t.is(conditions.volts.detector_a.length, 4);
  t.is(conditions.volts.detector_b.length, 4);
  const starts: number[] = [];
  for (const file of sim.files) {
    const reader = await openRawFile(file);
    starts.push(reader.header.start_time);
    await reader.close();
  }
  t.is(starts[0], 1_700_000_000);
  t.true(starts[0]! < starts[1]! && starts[1]! < starts[2]!);
});

test('the reader yields what the writer wrote, whatever the chunk size', async (t) => {
  const dir = await temporaryDir(t);
  const header: RawHeader = {
    run: 'r', file_id: 7, start_time: 1.5, sample_rate_hz: 1000, samples_per_trace: 3, channels: ['a', 'b'], trace_count: 4, sample_format: 'float32',
  };
  const traces = [0, 1, 2, 3].map((i) => ({channel: i % 2, offsetSeconds: i / 4, samples: Float32Array.of(i, -i, 0.5)}));
  const path = join(dir, 'r_007.edwr');
  const written = await writeRawFile(path, header, traces, {chunkBytes: 30});
  t.is(written.bytes, (await stat(path)).size);
  for (const chunkBytes of [1, 40, 1 << 20]) {
    const read = await collect(readRawTraces(path, {chunkBytes}));
    t.deepEqual(read.map(({channel, offsetSeconds, samples}) => ({channel, offsetSeconds, samples})), traces);
  }
  await t.throwsAsync(writeRawFile(join(dir, 'short.edwr'), header, traces.slice(1)), {instanceOf: TypeError, message: /3 traces given/});
});

/** Each way an `.edwr` file can be corrupt, made from a good file's bytes. */
const CORRUPTIONS: {what: string; message: RegExp; format?: 'float32'; corrupt: (bytes: Buffer, dataOffset: number) => Buffer}[] = [
  {what: 'no bytes at all', message: /truncated: 0 bytes/, corrupt: () => Buffer.alloc(0)},
  {what: 'a bad magic', message: /bad magic 0x58445752 at byte 0/, corrupt: (bytes) => (bytes.write('X', 0), bytes)},
  {what: 'an unknown version', message: /unknown format version 9 at byte 4/, corrupt: (bytes) => (bytes.writeUInt16LE(9, 4), bytes)},
  {what: 'a header that is not JSON', message: /header at byte 12 is not valid UTF-8 JSON/, corrupt: (bytes) => (bytes.write('#', 12), bytes)},
  {
    what: 'a header lacking a field',
    message: /header lacks "sample_rate_hz"/,
    corrupt: (bytes, dataOffset) => {
      const header = JSON.parse(bytes.subarray(12, dataOffset).toString('utf8'));
      delete header.sample_rate_hz;
      const json = Buffer.from(JSON.stringify(header));
      const preamble = Buffer.from(bytes.subarray(0, 12));
      preamble.writeUInt32LE(json.length, 8);
      return Buffer.concat([preamble, json, bytes.subarray(dataOffset)]);
    },
  },
  {what: 'a header length past the end', message: /header length 4000000 at byte 8 exceeds/, corrupt: (bytes) => (bytes.writeUInt32LE(4_000_000, 8), bytes)},
  {what: 'a truncated last trace', message: /truncated: .* trace 2 at byte \d+ is incomplete/, corrupt: (bytes) => bytes.subarray(0, bytes.length - 100)},
  {what: 'bytes beyond the last trace', message: /size \d+ bytes disagrees with header: 3 traces of 4108 bytes/, corrupt: (bytes) => Buffer.concat([bytes, Buffer.alloc(7)])},
  {what: 'a channel index out of range', message: /trace 1 at byte \d+: channel index 9 out of range/, corrupt: (bytes, dataOffset) => (bytes.writeUInt16LE(9, dataOffset + 4108), bytes)},
  {
    what: 'a NaN sample',
    message: /trace 2 sample 10 at byte \d+ is NaN/,
    format: 'float32',
    corrupt: (bytes, dataOffset) => (bytes.writeFloatLE(Number.NaN, dataOffset + 2 * 8204 + 12 + 40), bytes),
  },
];

for (const corruption of CORRUPTIONS) {
  test(`a raw file with ${corruption.what} is rejected with a one-line StepError naming the file`, async (t) => {
    const dir = await temporaryDir(t);
    const sim = await simulate({outDir: dir, files: 1, events: 3, sampleFormat: corruption.format ?? 'int16'});
    const good = await readFile(sim.files[0]!);
    const path = join(dir, 'bad.edwr');
    await writeFile(path, corruption.corrupt(Buffer.from(good), 12 + good.readUInt32LE(8)));
    const output = join(dir, 'bad.jsonl');
    const error = await t.throwsAsync(processRawFile(path, output), {instanceOf: StepError});
    t.regex(error!.message, corruption.message);
    t.true(error!.message.includes(path));
    t.false(error!.message.includes('\n'));
    t.false(error!.retryable);
    t.deepEqual((await readdir(dir)).filter((name) => name.includes('bad.jsonl')), [], 'no results file, not even a temporary one');
  });
}

test('a missing raw file is a StepError naming it, not worth retrying', async (t) => {
  const dir = await temporaryDir(t);
  const path = join(dir, 'gone.edwr');
  const error = await t.throwsAsync(processRawFile(path, join(dir, 'gone.jsonl')), {instanceOf: StepError});
  t.is(error!.message, `raw file ${path} does not exist`);
  t.false(error!.retryable);
});

test('readPulses rejects a corrupt line with a StepError naming the file and line number', async (t) => {
  const dir = await temporaryDir(t);
  const sim = await simulate({outDir: dir, files: 1, events: 5});
  const output = join(dir, 'results.jsonl');
  await processRawFile(sim.files[0]!, output);
  const lines = (await readFile(output, 'utf8')).split('\n');
  t.is((await collect(readPulses(output))).length, 5);

  await writeFile(output, [...lines.slice(0, 2), '{"file_id": 0, "trace": 2', ...lines.slice(3)].join('\n'));
  const broken = await t.throwsAsync(collect(readPulses(output)), {instanceOf: StepError});
  t.is(broken!.message, `corrupt results file ${output} line 3: not valid JSON`);
  t.false(broken!.retryable);

  const record = JSON.parse(lines[3]!) as Partial<PulseRecord>;
  delete record.amplitude;
  await writeFile(output, [...lines.slice(0, 3), JSON.stringify(record), ...lines.slice(4)].join('\n'));
  await t.throwsAsync(collect(readPulses(output)), {instanceOf: StepError, message: `corrupt results file ${output} line 4: lacks "amplitude"`});
});

test('processRawFile refuses a bad option with a ConfigError naming it, and stops on an aborted signal', async (t) => {
  const dir = await temporaryDir(t);
  const sim = await simulate({outDir: dir, files: 1, events: 2});
  const output = join(dir, 'results.jsonl');
  await t.throwsAsync(processRawFile(sim.files[0]!, output, {timingFraction: 1.5}), {instanceOf: ConfigError, message: /timingFraction.*1\.5/});
  const controller = new AbortController();
  controller.abort();
  // The signal's reason is a DOMException, which ava does not count as an Error.
  const aborted = await processRawFile(sim.files[0]!, output, {}, controller.signal).then(() => undefined, (error: unknown) => error);
  t.is((aborted as {name?: string} | undefined)?.name, 'AbortError');
  t.deepEqual((await readdir(dir)).filter((name) => name.includes('results')), []);
});
