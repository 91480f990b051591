import type {Doc} from '../store/index.js';
import {isExcluded, type PeriodMark} from './periods.js';
import {isSuperseded, type SupersededMark} from './record.js';

/** One entry of a document's `process` array. Entries in the seed's shape carry only `name` and results. */
export interface ProcessEntry {
  name: string;
  /** `done` or `failed`; absent in the seed's entries, which count as completed. */
  status?: 'done' | 'failed';
  /** ISO 8601 UTC. */
  started?: string;
  finished?: string;
  host?: string;
  version?: string;
  attempt?: number;
  /** The fencing token of the claim the attempt ran under (entries written by edw since it records it). */
  token?: number;
  /**
   * Set on a completed entry that is not its step and version's completion of record, naming the
   * record (see record.ts): the only change ever made to an entry once written.
   */
  superseded?: SupersededMark;
  result?: StepResult;
  error?: {message: string; retryable: boolean; detail?: string};
  /** The seed's way of saying where the step's output is. */
  file?: string;
  [field: string]: unknown;
}

/** A file a step wrote. */
export interface StepOutput {
  path: string;
  bytes: number;
  md5: string;
}

/** What a step returns: the files it wrote (the first is the next step's input) and anything else to record. */
export interface StepResult {
  outputs?: StepOutput[];
  [field: string]: unknown;
}

/**
 * A reprocessing asked for by `edw reprocess`: step `step` (following stage `after`) and every step
 * after it run again at `version`, appending new entries. The marks are append-only; their count is
 * the document's *epoch*, and each entry records the epoch its claim was taken in (`epoch`, absent for
 * 0), so the stage and "completed already" look at the entries of the current epoch only.
 */
export interface ReprocessMark {
  /** The `reprocess:<id>` record's id part. */
  id: string;
  step: string;
  after: string;
  version: string;
  reason: string;
  at: string;
  by: string;
}

/** A claim: the listener that works on the document now, until `expires` (epoch ms). */
export interface Claim {
  step: string;
  version: string;
  owner: string;
  host: string;
  pid: number;
  /** Fencing token: a result is written only while the document still holds this token. */
  token: number;
  expires: number;
  since: string;
  /** The document's epoch when claimed (reprocessings asked for), recorded with the entry. @default 0 */
  epoch?: number;
}

/** edw's own bookkeeping on a data-file document, all under `edw`. */
export interface EdwState {
  /** Last fencing token handed out for this document (only grows). */
  token?: number;
  claim?: Claim;
  /** A retryable failure: the step is tried again at `next` (epoch ms). */
  retry?: {step: string; version: string; attempts: number; next: number; error: string};
  /** Failed for good at `step` until `edw retry`. */
  failed?: {step: string; version: string; attempts: number; error: string; at: string};
}

/** A data-file document: any document with a `process` array (the seed's shape plus edw's additions). */
export interface DataFileDoc extends Doc {
  process: ProcessEntry[];
  run?: string;
  md5sum?: string;
  bytes?: number;
  status?: string;
  datecreated?: number;
  /** The file's modification time when registered (epoch seconds): the time periods place it by. */
  file_mtime?: number;
  original_file?: string;
  conditions?: Record<string, unknown>;
  edw?: EdwState;
  /** Append-only marks of the reprocessings asked for (`edw reprocess`): how many there are is the document's epoch. */
  reprocess?: ReprocessMark[];
  /** Append-only marks of the periods the file was put in and taken out of (`edw period`). */
  periods?: PeriodMark[];
  previous?: Array<Record<string, unknown>>;
}

export function isDataFile(doc: Doc | null | undefined): doc is DataFileDoc {
  return !!doc && !doc._deleted && Array.isArray((doc as {process?: unknown}).process);
}

/** An entry counts as completed when edw marked it done, or when it is in the seed's shape (no status). */
export function isCompleted(entry: ProcessEntry): boolean {
  return !!entry && typeof entry.name === 'string' && (entry.status === undefined || entry.status === 'done');
}

/** The document's epoch: how many reprocessings were asked for (`edw reprocess`). */
export function epochOf(doc: {reprocess?: unknown}): number {
  return Array.isArray(doc.reprocess) ? doc.reprocess.length : 0;
}

/** The epoch an entry was written in (the claim's): 0 for entries from before any reprocessing. */
export function entryEpoch(entry: ProcessEntry): number {
  return typeof entry.epoch === 'number' ? entry.epoch : 0;
}

/** A completed entry that is not marked as superseded: a completion of record (see record.ts). */
export function isOfRecord(entry: ProcessEntry): boolean {
  return isCompleted(entry) && !isSuperseded(entry);
}

/**
 * The document's stage: the name of its last completion of record of the current epoch (a superseded
 * re-execution does not count); when there is none, the stage the last reprocessing starts from
 * (`after` of its mark), or `new`. Same rule as the design doc's `lib/stage.js`.
 */
export function stageOf(doc: DataFileDoc): string {
  const epoch = epochOf(doc);
  for (let i = doc.process.length - 1; i >= 0; i--) {
    const entry = doc.process[i]!;
    if (isOfRecord(entry) && entryEpoch(entry) === epoch) return entry.name;
  }
  return epoch > 0 ? doc.reprocess![epoch - 1]!.after : 'new';
}

/** The last completion of record of a step (any version), if any: where the step's output is. */
export function completedEntry(doc: DataFileDoc, step: string): ProcessEntry | undefined {
  for (let i = doc.process.length - 1; i >= 0; i--) {
    const entry = doc.process[i]!;
    if (entry.name === step && isOfRecord(entry)) return entry;
  }
  return undefined;
}

/**
 * Whether the document already holds a completed entry for this step and version in its current epoch
 * (seed entries have no version and count for any). A superseded one counts too: the step did
 * complete, and running it a third time would add nothing.
 */
export function hasCompleted(doc: DataFileDoc, step: string, version: string): boolean {
  const epoch = epochOf(doc);
  return doc.process.some((e) => e.name === step && isCompleted(e) && entryEpoch(e) === epoch && (e.version === undefined || e.version === version));
}

/** Where a completed entry says its output is: its first output, or the seed's `file`. */
export function outputPath(entry: ProcessEntry): string | undefined {
  const first = entry.result?.outputs?.[0]?.path;
  if (typeof first === 'string') return first;
  return typeof entry.file === 'string' ? entry.file : undefined;
}

/** The input of a step following `after`: the previous step's recorded output, or the original file for the first step. */
export function inputOf(doc: DataFileDoc, after: string): string | undefined {
  if (after === 'new') return doc.original_file;
  const entry = completedEntry(doc, after);
  return entry ? outputPath(entry) : undefined;
}

/**
 * The state part of a document's stage-view key: `bad` (status not good), `excluded` (in a period of
 * kind exclude), `failed` (failed for good), `retry` (waiting for its next try) or `ready`. Same rule
 * as design-docs/edw/views/stage/map.js.
 */
export function viewStateOf(doc: DataFileDoc): 'bad' | 'excluded' | 'failed' | 'retry' | 'ready' {
  if (doc.status !== 'good') return 'bad';
  if (isExcluded(doc)) return 'excluded';
  if (doc.edw?.failed) return 'failed';
  if (doc.edw?.retry) return 'retry';
  return 'ready';
}
