import {mkdir} from 'node:fs/promises';
import {join} from 'node:path';
import {processRawFile} from '../lib/dsp/index.js';
import {ConfigError, StepError} from '../lib/errors/index.js';
import type {StepDefinition} from './definition.js';

/**
 * signal_processing: pulse processing of every trace of the transferred raw file (baseline, trapezoidal
 * amplitude, leading-edge time; docs/raw-format.md), written as a JSON Lines results file under
 * `output_dir/<run>/<id>.v<version>.pulses.jsonl` (the step's version in the name: a reprocessing with a
 * new version leaves the old results where they are). Idempotent: a re-run writes the same bytes to the same name.
 */
export const signalProcessing: StepDefinition = {
  version: '1',
  settings: {
    output_dir: 'where results files go, one folder per run',
    threshold_sigma: 'detection threshold in filtered-noise sigmas (default 5)',
  },
  checkSettings(settings, step) {
    if (!settings.output_dir) throw new ConfigError(`[step.${step}] output_dir is not set (where results files go, one folder per run)`);
    const sigma = settings.threshold_sigma;
    if (sigma !== undefined && !(Number(sigma) > 0 && Number.isFinite(Number(sigma)))) {
      throw new ConfigError(`[step.${step}] threshold_sigma = ${sigma}: expected a number above 0`);
    }
  },
  async run(doc, {input, settings, signal, version}) {
    if (!input) throw new StepError(`document ${doc._id} has no transferred file recorded to process`);
    if (!settings.output_dir) throw new StepError('[step] output_dir is not set for signal_processing');
    const dir = join(settings.output_dir, doc.run ?? 'unknown-run');
    await mkdir(dir, {recursive: true});
    const thresholdSigma = settings.threshold_sigma !== undefined ? Number(settings.threshold_sigma) : undefined;
    const summary = await processRawFile(input, join(dir, `${doc._id}.v${version}.pulses.jsonl`), {thresholdSigma}, signal);
    const {path, bytes, md5, ...figures} = summary;
    return {outputs: [{path, bytes, md5}], input, ...figures};
  },
};
