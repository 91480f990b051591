import {readPulses, type PulseRecord} from '../lib/dsp/index.js';
import {DESIGN} from '../lib/design/index.js';
import {ConfigError, StepError} from '../lib/errors/index.js';
import {isOfRecord, outputPath, type DataFileDoc} from '../lib/pipeline/index.js';
import type {StepDefinition} from './definition.js';
import type {Doc, Store} from '../lib/store/index.js';

/** Detection documents per `_bulk_docs` request. */
const BATCH = 500;

/**
 * A detection's id: the file, the trace and `versions` (`<pv>.<iv>`: the version of the step that made
 * the pulses, and ingest's own), so the same pulse always gives the same id (a re-run adds nothing
 * twice) and a reprocessing at a new version adds its detections beside the old ones.
 */
export function detectionId(source: string, trace: number, versions: string): string {
  return `detection:${source}:${String(trace).padStart(6, '0')}:${versions}`;
}

/** The versions part of the detection ids made from `input`: the version of the entry that wrote it, then this step's. */
function versionsTag(doc: DataFileDoc, input: string, version: string): string {
  const producer = [...doc.process].reverse().find((e) => isOfRecord(e) && outputPath(e) === input);
  return `${producer?.version ?? '0'}.${version}`;
}

const FIELDS = ['type', 'source', 'source_md5', 'run', 'channel', 'trace', 'time', 'amplitude', 'baseline_rms', 'made_by'];

function sameDetection(a: Doc, b: Doc): boolean {
  return FIELDS.every((f) => JSON.stringify(a[f]) === JSON.stringify(b[f]));
}

/** Write a batch: new ones created, equal ones left alone, changed ones (a re-registered file) rewritten. */
async function writeBatch(store: Store, batch: Doc[], signal: AbortSignal, counts: {created: number; existing: number; updated: number}): Promise<void> {
  const outcomes = await store.bulkWrite(batch, signal);
  const clashes = batch.filter((_, i) => !outcomes[i]!.ok && (outcomes[i] as {error: string}).error === 'conflict');
  for (const [i, outcome] of outcomes.entries()) {
    if (outcome.ok) counts.created++;
    else if (outcome.error !== 'conflict') throw new StepError(`detection ${batch[i]!._id} was refused: ${outcome.reason}`);
  }
  if (clashes.length === 0) return;
  const current = await store.getMany(clashes.map((d) => d._id), signal);
  const rewrites = clashes.flatMap((doc, i) => {
    const old = current[i];
    if (old && sameDetection(old, doc)) {
      counts.existing++;
      return [];
    }
    return [{...doc, ...(old?._rev ? {_rev: old._rev} : {})}];
  });
  for (const outcome of await store.bulkWrite(rewrites, signal)) {
    // A conflict here is another run of this step writing the same detections at once: retryable.
    if (!outcome.ok) throw new StepError(`detection ${outcome.id} could not be rewritten: ${outcome.reason}`, {retryable: outcome.error === 'conflict'});
    counts.updated++;
  }
}

/**
 * ingest_detections: every pulse of the results file that was detected with an amplitude of at least
 * `threshold` (ADC units) becomes a detection document (`type: "detection"`), queryable by time with
 * `edw detections`. Idempotent: ids are deterministic; a re-run leaves equal detections alone,
 * rewrites changed ones and deletes the source's detections it no longer finds (a replaced file).
 */
export const ingestDetections: StepDefinition = {
  version: '1',
  settings: {threshold: 'pulses with at least this amplitude (ADC units) become detection documents (default 0)'},
  checkSettings(settings, step) {
    const threshold = settings.threshold;
    if (threshold !== undefined && (threshold.trim() === '' || !Number.isFinite(Number(threshold)))) {
      throw new ConfigError(`[step.${step}] threshold = ${threshold}: expected a number (ADC units)`);
    }
  },
  async run(doc, {input, settings, signal, store, step, version}) {
    if (!input) throw new StepError(`document ${doc._id} has no results file recorded to ingest`);
    const threshold = Number(settings.threshold ?? 0);
    if (!Number.isFinite(threshold)) throw new StepError(`[step] threshold = ${settings.threshold} is not a number`);
    const counts = {created: 0, existing: 0, updated: 0};
    const tag = versionsTag(doc, input, version);
    // What made each detection: lineage goes from it to this entry (and its file) without a search.
    const madeBy = {source: doc._id, step, version, input};
    const produced = new Set<string>();
    let below = 0;
    let batch: Doc[] = [];
    for await (const pulse of readPulses(input, {signal}) as AsyncIterable<PulseRecord>) {
      if (!pulse.detected || pulse.amplitude < threshold) {
        below++;
        continue;
      }
      const id = detectionId(doc._id, pulse.trace, tag);
      produced.add(id);
      batch.push({
        _id: id, type: 'detection', source: doc._id, source_md5: doc.md5sum ?? null, run: doc.run ?? null,
        channel: pulse.channel, trace: pulse.trace, time: pulse.time, amplitude: pulse.amplitude, baseline_rms: pulse.baseline_rms, made_by: madeBy,
      });
      if (batch.length >= BATCH) {
        await writeBatch(store, batch, signal, counts);
        batch = [];
      }
    }
    if (batch.length > 0) await writeBatch(store, batch, signal, counts);
    const earlier = await store.query({design: DESIGN, view: 'detections_by_source', key: doc._id, reduce: false, signal});
    // Only this version pair's: the detections of other versions are another processing's, kept.
    const stale = earlier.rows.map((row) => row.id!).filter((id) => id.endsWith(`:${tag}`) && !produced.has(id));
    let removed = 0;
    if (stale.length > 0) {
      const docs = (await store.getMany(stale, signal)).filter((d): d is Doc => !!d);
      const outcomes = await store.bulkWrite(docs.map((d) => ({_id: d._id, _rev: d._rev, _deleted: true})), signal);
      removed = outcomes.filter((o) => o.ok).length;
    }
    return {input, threshold, detections: produced.size, ...counts, removed, below_threshold: below};
  },
};
