import {isDataFile, stageOf, supersedingIndex, type DataFileDoc, type ProcessEntry} from '../pipeline/index.js';
import type {Doc} from '../store/index.js';
import {docCellOf, type DocState} from './states.js';

/** One entry of a document's process history, as `edw show` prints it and the API gives it. */
export interface TimelineEntry {
  /** Its place in `process`, from 0. */
  index: number;
  name: string;
  /** `done`, `failed`, `superseded` (a re-execution kept as history) or `done (seed)` (an entry in the seed's shape). */
  status: string;
  started: string | null;
  finished: string | null;
  host: string | null;
  version: string | null;
  attempt: number;
  /** With `superseded`: the index of the completion of record, -1 when it is not in this history. */
  superseded_by: number | null;
  error: ProcessEntry['error'] | null;
  /** The step's result, or the seed's `file`. */
  result: unknown;
}

/** A data-file document with where it stands and its history, entry by entry. */
export interface Timeline {
  id: string;
  run: string | null;
  stage: string;
  /** Its row and state in `edw status` (lib/inspect/states.ts). */
  row: string;
  state: DocState;
  entries: TimelineEntry[];
  doc: DataFileDoc;
}

/** The timeline of a data-file document at `now` (epoch ms) for a chain of `steps`; null for any other document. */
export function timelineOf(doc: Doc | null, steps: readonly string[], now = Date.now()): Timeline | null {
  if (!doc || !isDataFile(doc)) return null;
  const {row, state} = docCellOf(doc, steps, now);
  const entries = doc.process.map((entry, index): TimelineEntry => ({
    index,
    name: entry.name,
    status: entry.superseded ? 'superseded' : entry.status ?? 'done (seed)',
    started: entry.started ?? null,
    finished: entry.finished ?? null,
    host: entry.host ?? (typeof entry.hostname === 'string' ? entry.hostname : null),
    version: entry.version ?? null,
    attempt: entry.attempt ?? 1,
    superseded_by: entry.superseded ? supersedingIndex(doc.process, entry) : null,
    error: entry.error ?? null,
    result: entry.result ?? (entry.file !== undefined ? {file: entry.file} : null),
  }));
  return {id: doc._id, run: typeof doc.run === 'string' ? doc.run : null, stage: stageOf(doc), row, state, entries, doc};
}
