import {DESIGN} from '../design/index.js';
import {NotFoundError} from '../errors/index.js';
import {epochOf, fileTime, isDataFile, isOfRecord, periodsInForce, stageOf, type DataFileDoc, type PeriodMark} from '../pipeline/index.js';
import type {Doc, Store} from '../store/index.js';
import {chainTo, copiesOf, derivedFrom, entryReport, type EntryReport, type FileRef} from './entries.js';
import {PROVENANCE_DESIGN} from './marks.js';

/** `edw lineage`: an item's chain back to its raw file and forward to everything derived from it. */
export interface Lineage {
  asked: string;
  kind: 'detection' | 'file' | 'path';
  /** The detection asked for (its time, amplitude, channel, trace and `made_by`). */
  detection?: Doc;
  file: {id: string; run?: string; md5?: string; bytes?: number; original_file?: string; time?: number; stage: string; epoch: number; periods: PeriodMark[]};
  /** Every copy of the raw file's data the document records (the original, transfers), each with its md5. */
  copies: Array<FileRef & {by: string}>;
  /** The completions from the one that read the raw file to the one that made the item. */
  back: EntryReport[];
  /** The completions derived from the item (what read it, and what read those). */
  forward: EntryReport[];
  /** For a file or an output: the detection documents made from the file, by `<pv>.<iv>` versions. */
  detections?: Array<{versions: string; count: number}>;
  /** Documents read to answer (view rows are not documents). */
  documents_read: number;
}

/** The entry that made a detection: its `made_by` step, version and input, the latest completion of record. */
function madeByIndex(doc: DataFileDoc, detection: Doc): number {
  const by = (detection.made_by ?? {}) as {step?: string; version?: string; input?: string};
  for (let i = doc.process.length - 1; i >= 0; i--) {
    const e = doc.process[i]!;
    if (isOfRecord(e) && e.name === by.step && e.version === by.version && (by.input === undefined || e.result?.input === by.input)) return i;
  }
  return -1;
}

async function detectionCounts(store: Store, id: string): Promise<Array<{versions: string; count: number}>> {
  const rows = (await store.query({design: DESIGN, view: 'detections_by_source', key: id, reduce: false})).rows;
  const counts = new Map<string, number>();
  for (const row of rows) {
    const versions = String(row.id).split(':').length > 3 ? String(row.id).split(':').pop()! : '';
    counts.set(versions, (counts.get(versions) ?? 0) + 1);
  }
  return [...counts].sort().map(([versions, count]) => ({versions, count}));
}

/**
 * The lineage of a detection id, a data-file document id or a file path (an original or any output a
 * step recorded): two documents at most for a detection (it and its file), one view row and one
 * document for a path; no scan.
 */
export async function lineage(store: Store, asked: string): Promise<Lineage> {
  let read = 1;
  let doc = await store.get(asked);
  let detection: Doc | undefined;
  let kind: Lineage['kind'] = 'file';
  let index = -1;
  if (doc && doc.type === 'detection') {
    detection = doc;
    kind = 'detection';
    doc = await store.get(String(doc.source));
    read++;
    if (!isDataFile(doc)) throw new NotFoundError(`detection ${asked}: its file ${String(detection.source)} is not in the database`);
    index = madeByIndex(doc, detection);
  } else if (!isDataFile(doc)) {
    const rows = (await store.query({design: PROVENANCE_DESIGN, view: 'outputs', key: asked, reduce: false, limit: 1})).rows;
    if (!rows.length) throw new NotFoundError(`no detection, data-file document or recorded file ${asked}`);
    kind = 'path';
    doc = await store.get(rows[0]!.id!);
    read++;
    index = Number(rows[0]!.value);
    if (!isDataFile(doc)) throw new NotFoundError(`no data-file document for ${asked}`);
  }
  const d = doc as DataFileDoc;
  const back = index >= 0 ? chainTo(d, index).map((i) => entryReport(d, i)) : [];
  const start = index >= 0 ? back[back.length - 1]!.outputs.map((o) => o.path) : [d.original_file ?? ''];
  const forward = kind === 'detection' ? [] : derivedFrom(d, kind === 'path' ? [asked] : start, index).map((i) => entryReport(d, i));
  return {
    asked, kind, ...(detection ? {detection} : {}),
    file: {
      id: d._id, ...(d.run ? {run: d.run} : {}), ...(d.md5sum ? {md5: d.md5sum} : {}), ...(d.bytes !== undefined ? {bytes: d.bytes} : {}),
      ...(d.original_file ? {original_file: d.original_file} : {}), ...(fileTime(d) !== undefined ? {time: fileTime(d)} : {}),
      stage: stageOf(d), epoch: epochOf(d), periods: periodsInForce(d),
    },
    copies: copiesOf(d), back, forward,
    ...(kind === 'detection' ? {} : {detections: await detectionCounts(store, d._id)}),
    documents_read: read,
  };
}
