/**
 * `--lineage-only`: how long `edw lineage` takes for a detection on the embedded database holding
 * 100,000 detections (1,000 files of 100 detections each, each file with its three entries), through
 * the library function the command calls. Lineage of a detection reads the detection and its file
 * (two documents), no view; timed for 200 detections spread over the files, median and p99 kept.
 * The lineage of an output path (one row of the provenance `outputs` view, then the document) is timed
 * too, after the view's first build (reported apart).
 */
import {lineage} from '../../lib/provenance/index.js';
import type {Doc} from '../../lib/store/index.js';
import {embeddedBackend} from './backends.js';
import {benchId, dataFileDoc} from './documents.js';
import {percentile, significant, timed} from './stats.js';

export interface LineageStudy {
  database: string;
  files: number;
  detections: number;
  insert_ms: number;
  /** Median and p99 of `lineage(detection id)`, ms. */
  detection_p50_ms: number;
  detection_p99_ms: number;
  /** Documents read by one detection's lineage. */
  documents_read: number;
  /** With `paths`: the first path lineage (building the views it reads), then the median of 50. */
  outputs_view_build_ms?: number;
  path_p50_ms?: number;
}

const PER_FILE = 100;

/** A file's three completed entries, as the chain records them, and its detections. */
function fileDocs(i: number): Doc[] {
  const id = benchId(i, 'lin');
  const at = new Date(1_764_000_000_000 + i * 1000).toISOString();
  const sps = `/sps/lin/${id}.edwr`;
  const pulses = `/processed/lin/${id}.v1.pulses.jsonl`;
  const base = dataFileDoc(i, {prefix: 'lin'});
  const entry = (name: string, result: Record<string, unknown>) => ({name, status: 'done' as const, started: at, finished: at, host: 'bench', version: '1', attempt: 1, code: {builtin: 'edw bench'}, result});
  const doc = {...base, process: [
    entry('move_to_sps', {outputs: [{path: sps, bytes: base.bytes, md5: base.md5sum}], source: base.original_file}),
    entry('signal_processing', {outputs: [{path: pulses, bytes: 12_000, md5: 'f'.repeat(32)}], input: sps}),
    entry('ingest_detections', {input: pulses, detections: PER_FILE}),
  ]};
  const detections = Array.from({length: PER_FILE}, (_, t) => ({
    _id: `detection:${id}:${String(t).padStart(6, '0')}:1.1`, type: 'detection', source: id, source_md5: base.md5sum, run: 'lin',
    channel: 'detector_a', trace: t, time: 1_378_000_000 + i * 600 + t, amplitude: 100 + t, baseline_rms: 2,
    made_by: {source: id, step: 'ingest_detections', version: '1', input: pulses},
  }));
  return [doc, ...detections];
}

/** `paths`: also time the lineage of output paths (its first query builds two views over every document: about 80 s here). @default true */
export async function runLineageStudy(options: {detections: number; paths?: boolean; note: (line: string) => void}): Promise<LineageStudy> {
  const backend = await embeddedBackend();
  try {
    const store = await backend.open(backend.freshUrl('lineage'), {design: true});
    const files = Math.max(1, Math.round(options.detections / PER_FILE));
    const insert = await timed(async () => {
      for (let i = 0; i < files; i += 10) await store.bulkWrite(Array.from({length: Math.min(10, files - i)}, (_, k) => fileDocs(i + k)).flat());
    });
    options.note(`bench: lineage: ${files * PER_FILE} detections written in ${Math.round(insert.ms)} ms`);
    const ms: number[] = [];
    let read = 0;
    for (let k = 0; k < 200; k++) {
      const i = (k * 7919) % files;
      const id = `detection:${benchId(i, 'lin')}:${String(k % PER_FILE).padStart(6, '0')}:1.1`;
      const run = await timed(() => lineage(store, id));
      if (run.value.back.length !== 3 || run.value.back[0]!.inputs[0]!.md5 !== dataFileDoc(i, {prefix: 'lin'}).md5sum) throw new Error(`lineage of ${id} did not reach its raw file's md5`);
      read = run.value.documents_read;
      ms.push(run.ms);
    }
    const study: LineageStudy = {
      database: backend.database, files, detections: files * PER_FILE, insert_ms: Math.round(insert.ms),
      detection_p50_ms: significant(percentile(ms, 50)), detection_p99_ms: significant(percentile(ms, 99)), documents_read: read,
    };
    if (options.paths ?? true) {
      const build = await timed(() => lineage(store, `/processed/lin/${benchId(0, 'lin')}.v1.pulses.jsonl`));
      const paths: number[] = [];
      for (let k = 0; k < 50; k++) paths.push((await timed(() => lineage(store, `/sps/lin/${benchId((k * 31) % files, 'lin')}.edwr`))).ms);
      study.outputs_view_build_ms = Math.round(build.ms);
      study.path_p50_ms = significant(percentile(paths, 50));
    }
    await store.close();
    return study;
  } finally {
    await backend.close();
  }
}

export function formatLineageStudy(s: LineageStudy): string[] {
  return [
    `lineage (${s.database}, ${s.detections} detections of ${s.files} files):`,
    `  edw lineage DETECTION: p50 ${s.detection_p50_ms} ms, p99 ${s.detection_p99_ms} ms, ${s.documents_read} documents read (target < 100 ms)`,
    ...(s.path_p50_ms !== undefined ? [`  edw lineage PATH: p50 ${s.path_p50_ms} ms after the outputs view's first build (${s.outputs_view_build_ms} ms)`] : []),
  ];
}
