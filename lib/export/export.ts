import {open, readFile, rename, stat, truncate, writeFile} from 'node:fs/promises';
import {ConfigError} from '../errors/index.js';
import {requireQueryDoc} from '../query/index.js';
import type {Store} from '../store/index.js';
import {csvColumns, csvLine, isRecord, recordColumns, type ExportFormat, type ExportKind} from './records.js';

export interface ExportOptions {
  kind: ExportKind;
  format: ExportFormat;
  /** The output file; its checkpoint is `<out>.checkpoint.json`. */
  out: string;
  /** Only the documents of this query's answer (detections: those of its documents). */
  query?: string;
  /** Changes read per page: the records written between two checkpoints. @default 500 */
  pageSize?: number;
  /** After each page written: records written by this run. */
  onProgress?: (written: number) => void;
  signal?: AbortSignal;
}

/** The checkpoint beside the output: where the feed was read to, and what the output holds up to there. */
interface Checkpoint {
  kind: ExportKind;
  format: ExportFormat;
  query: string | null;
  /** Feed position every record up to which is in the output. */
  seq: string;
  /** Length of the output holding them: anything after it is an unfinished page, cut off on resume. */
  bytes: number;
  /** Records in the output. */
  records: number;
  /** CSV: the columns of the header. */
  columns?: string[];
}

export interface ExportReport {
  /** Records this run appended. */
  written: number;
  /** Records in the output now. */
  total: number;
  /** Whether this run started from an earlier one's checkpoint. */
  resumed: boolean;
}

export const checkpointPath = (out: string): string => `${out}.checkpoint.json`;

async function readCheckpoint(out: string, options: ExportOptions): Promise<Checkpoint | null> {
  const text = await readFile(checkpointPath(out), 'utf8').catch(() => null);
  const size = (await stat(out).catch(() => null))?.size;
  if (text === null) {
    if (size) throw new ConfigError(`${out} exists and has no checkpoint (${checkpointPath(out)}): give another --out, or remove ${out} to export from the start`);
    return null;
  }
  const checkpoint = JSON.parse(text) as Checkpoint;
  const asked = {kind: options.kind, format: options.format, query: options.query ?? null};
  const had = {kind: checkpoint.kind, format: checkpoint.format, query: checkpoint.query};
  if (JSON.stringify(asked) !== JSON.stringify(had)) {
    throw new ConfigError(`${out} holds the export ${JSON.stringify(had)}, not ${JSON.stringify(asked)}: give another --out`);
  }
  if ((size ?? 0) < checkpoint.bytes) {
    throw new ConfigError(`${out} is shorter than its checkpoint says (${size ?? 0} < ${checkpoint.bytes} bytes): remove it and ${checkpointPath(out)} to export from the start`);
  }
  return checkpoint;
}

/** Replace the checkpoint whole: a kill leaves the old one or the new one. */
async function saveCheckpoint(out: string, checkpoint: Checkpoint): Promise<void> {
  const file = checkpointPath(out);
  await writeFile(`${file}.tmp`, JSON.stringify(checkpoint));
  await rename(`${file}.tmp`, file);
}

/**
 * Append to `out` the records the feed shows since the last run, each page written and synced before
 * the checkpoint moves past it. A run killed at any moment leaves at most one page beyond the
 * checkpoint; the next run cuts it off and writes it again, so each record is in the output once, in
 * feed order. A document changed since it was written is written again (its new revision).
 */
export async function runExport(store: Store, options: ExportOptions): Promise<ExportReport> {
  const pageSize = options.pageSize ?? 500;
  const ids = options.query ? new Set((await requireQueryDoc(store, options.query)).ids) : undefined;
  const previous = await readCheckpoint(options.out, options);
  const checkpoint: Checkpoint = previous ?? {kind: options.kind, format: options.format, query: options.query ?? null, seq: '0', bytes: 0, records: 0};
  // An unfinished page of a killed run: cut off, written again below.
  if (previous && previous.bytes > 0) await truncate(options.out, previous.bytes);
  let written = 0;
  for (;;) {
    options.signal?.throwIfAborted();
    const page = await store.changes({since: checkpoint.seq, limit: pageSize, includeDocs: true, signal: options.signal});
    const docs = page.results.map((c) => c.doc).filter((doc) => isRecord(doc, options.kind, ids));
    let text = '';
    if (options.format === 'ndjson') {
      text = docs.map((doc) => `${JSON.stringify(doc)}\n`).join('');
    } else if (docs.length) {
      const rows = docs.map((doc) => recordColumns(doc, options.kind));
      if (!checkpoint.columns) {
        checkpoint.columns = csvColumns(rows);
        text += csvLine(checkpoint.columns);
      }
      text += rows.map((row) => csvLine(checkpoint.columns!.map((c) => row[c]))).join('');
    }
    if (text) {
      const file = await open(options.out, 'a');
      try {
        await file.write(text);
        await file.sync();
      } finally {
        await file.close();
      }
      checkpoint.bytes += Buffer.byteLength(text);
      checkpoint.records += docs.length;
      written += docs.length;
    }
    checkpoint.seq = page.lastSeq;
    await saveCheckpoint(options.out, checkpoint);
    options.onProgress?.(written);
    if (page.results.length < pageSize) return {written, total: checkpoint.records, resumed: previous !== null};
  }
}
