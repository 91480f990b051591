import {readPulses, type PulseRecord} from '../lib/dsp/index.js';
import {StepError} from '../lib/errors/index.js';
import type {Step} from '../lib/runtime/index.js';
import type {Doc} from '../lib/store/index.js';

/** Detection documents per `_bulk_docs` request. */
const BATCH = 500;

/** A detection's id: the same pulse always gives the same id, so a re-run adds nothing twice. */
export function detectionId(source: string, trace: number): string {
  return `detection:${source}:${String(trace).padStart(6, '0')}`;
}

/**
 * ingest_detections: every pulse of the results file that was detected with an amplitude of at least
 * `threshold` (ADC units) becomes a detection document (`type: "detection"`), queryable by time with
 * `edw detections`. Idempotent through deterministic ids.
 */
export const ingestDetections: Step = {
  version: '1',
  async run(doc, {input, settings, signal, store}) {
    if (!input) throw new StepError(`document ${doc._id} has no results file recorded to ingest`);
    const threshold = Number(settings.threshold ?? 0);
    if (!Number.isFinite(threshold)) throw new StepError(`[step] threshold = ${settings.threshold} is not a number`);
    let created = 0;
    let existing = 0;
    let below = 0;
    let batch: Doc[] = [];
    const flush = async (): Promise<void> => {
      const outcomes = await store.bulkWrite(batch, signal);
      for (const outcome of outcomes) {
        if (outcome.ok) created++;
        else if (outcome.error === 'conflict') existing++;
        else throw new StepError(`detection ${outcome.id} was refused: ${outcome.reason}`);
      }
      batch = [];
    };
    for await (const pulse of readPulses(input, {signal}) as AsyncIterable<PulseRecord>) {
      if (!pulse.detected || pulse.amplitude < threshold) {
        below++;
        continue;
      }
      batch.push({
        _id: detectionId(doc._id, pulse.trace), type: 'detection', source: doc._id, run: doc.run ?? null,
        channel: pulse.channel, trace: pulse.trace, time: pulse.time, amplitude: pulse.amplitude, baseline_rms: pulse.baseline_rms,
      });
      if (batch.length >= BATCH) await flush();
    }
    if (batch.length > 0) await flush();
    return {input, threshold, detections: created + existing, created, existing, below_threshold: below};
  },
};
