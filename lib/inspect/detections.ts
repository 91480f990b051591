import {ConfigError} from '../errors/index.js';
import {DESIGN} from '../design/index.js';
import type {Doc, Store} from '../store/index.js';

export interface DetectionsOptions {
  /** Rows read per view query: what is held in memory at once. @default 500 */
  pageSize?: number;
  /** Leave out detections at `to` itself (a named range ends where the next one starts). @default false */
  toExclusive?: boolean;
  signal?: AbortSignal;
}

/**
/**
 * Where a reading of the `detections` view stands: after `seen` rows of key `time` (rows of one key
 * come in id order). What a page's cursor holds.
 */
export interface DetectionPosition {
  time: number;
  seen: number;
}

/** One row of the `detections` view: its time and amplitude, and the document when asked for. */
export interface DetectionRow {
  time: number;
  amplitude: number;
  doc?: Doc;
  /** The position just after this row. */
  position: DetectionPosition;
}

interface RowOptions extends DetectionsOptions {
  /** Start after this position (a previous reading's). @default at `from` */
  after?: DetectionPosition;
  /** Read the documents too. @default true */
  includeDocs?: boolean;
}

/**
 * The rows of the `detections` view with `from <= time <= to` (epoch seconds; undefined: no bound), in
 * view order (time, then id), one page at a time. The store has no startkey_docid: a page starts at
 * the last key seen and skips the rows of that key already given. Later pages read the index as the
 * first left it.
 */
async function* eachDetectionRow(store: Store, from: number | undefined, to: number | undefined, options: RowOptions = {}): AsyncGenerator<DetectionRow> {
  const pageSize = options.pageSize ?? 500;
  if (!(Number.isInteger(pageSize) && pageSize >= 1)) throw new TypeError(`eachDetection option pageSize: expected a whole number of at least 1, got ${pageSize}`);
  const includeDocs = options.includeDocs ?? true;
  let startkey = options.after ? Math.max(from ?? -Infinity, options.after.time) : from;
  let seenAtKey = options.after && options.after.time >= (from ?? -Infinity) ? options.after.seen : 0;
  for (let first = true; ; first = false) {
    const {rows} = await store.query({
      design: DESIGN, view: 'detections', ...(startkey !== undefined ? {startkey} : {}), ...(to !== undefined ? {endkey: to} : {}),
      ...(options.toExclusive ? {inclusiveEnd: false} : {}), includeDocs, limit: pageSize,
      ...(seenAtKey ? {skip: seenAtKey} : {}), ...(first ? {} : {update: false}), signal: options.signal,
    });
    for (const row of rows) {
      const key = row.key as number;
      seenAtKey = key === startkey ? seenAtKey + 1 : 1;
      startkey = key;
      if (includeDocs && !row.doc) continue;
      yield {time: key, amplitude: Number(row.value), ...(row.doc ? {doc: row.doc} : {}), position: {time: key, seen: seenAtKey}};
    }
    if (rows.length < pageSize) return;
  }
}

/**
 * Detection documents with `from <= time <= to` (epoch seconds; undefined: no bound), in view order
 * (time, then id), read from the `detections` view one page at a time, so that any number of them
 * takes the memory of one page.
 */
export async function* eachDetection(store: Store, from: number | undefined, to: number | undefined, options: DetectionsOptions = {}): AsyncGenerator<Doc> {
  for await (const row of eachDetectionRow(store, from, to, options)) yield row.doc!;
}

/** What a detection must be besides its time; every criterion given must hold. */
export interface DetectionFilter {
  /** Its run is one of these. */
  runs?: string[];
  /** Its source document is one of these. */
  sources?: string[];
  /** Amplitude at least this. */
  minAmplitude?: number;
  /** Amplitude at most this. */
  maxAmplitude?: number;
}

function amplitudeKept(amplitude: number, filter: DetectionFilter): boolean {
  return !(filter.minAmplitude !== undefined && !(amplitude >= filter.minAmplitude)) && !(filter.maxAmplitude !== undefined && !(amplitude <= filter.maxAmplitude));
}

/** Whether the filter needs the document (its run or source), not only the view's row. */
const needsDoc = (filter: DetectionFilter): boolean => !!filter.runs?.length || !!filter.sources?.length;

export function matchesDetection(doc: Doc, filter: DetectionFilter): boolean {
  if (filter.runs?.length && !filter.runs.includes(String(doc.run))) return false;
  if (filter.sources?.length && !filter.sources.includes(String(doc.source))) return false;
  return amplitudeKept(Number(doc.amplitude), filter);
}

const rowKept = (row: DetectionRow, filter: DetectionFilter): boolean =>
  row.doc ? matchesDetection(row.doc, filter) : amplitudeKept(row.amplitude, filter);

/** A bin of `edw detections --rate`: its start and how many detections fell in it. */
export interface RateBin {
  /** Start of the bin, ISO 8601 (UTC). */
  start: string;
  count: number;
}

/**
 * Counts per hour or per day (days from midnight in `zone`, given by `dayStart`) of detections read in
 * time order: one bin is held at a time, so any number takes the same memory. Empty bins are skipped.
 */
export async function* detectionRates(detections: AsyncIterable<Doc>, binStart: (seconds: number) => number): AsyncGenerator<RateBin> {
  let current: number | undefined;
  let count = 0;
  for await (const doc of detections) {
    const start = binStart(Number(doc.time));
    if (start !== current) {
      if (current !== undefined) yield {start: new Date(current * 1000).toISOString(), count};
      current = start;
      count = 0;
    }
    count++;
  }
  if (current !== undefined) yield {start: new Date(current * 1000).toISOString(), count};
}

export interface DetectionsPageOptions extends DetectionFilter {
  from: number;
  to: number;
  /** Most detections in the page. @default 500 */
  limit?: number;
  /** Continue after this position (the previous page's `next`). */
  after?: DetectionPosition;
  signal?: AbortSignal;
}

/** One page of detections in time order, and where the next page starts when there is one. */
export async function detectionsPage(store: Store, options: DetectionsPageOptions): Promise<{detections: Doc[]; next?: DetectionPosition}> {
  const limit = options.limit ?? 500;
  const detections: Doc[] = [];
  let last: DetectionPosition | undefined;
  const rows = eachDetectionRow(store, options.from, options.to, {after: options.after, pageSize: Math.min(limit + 1, 500), signal: options.signal});
  for await (const row of rows) {
    if (!rowKept(row, options)) continue;
    if (detections.length === limit) {
      await rows.return(undefined);
      return {detections, next: last};
    }
    detections.push(row.doc!);
    last = row.position;
  }
  return {detections};
}

export interface DetectionCountsOptions extends DetectionFilter {
  from: number;
  to: number;
  /** Width of a bin, seconds: bin i counts `from + i * binS <= time < from + (i + 1) * binS` (the last one also `to`). */
  binS: number;
  /** Most bins a count may have. @default 10000 */
  maxBins?: number;
  signal?: AbortSignal;
}

/**
 * Detections per time bin over a range. Without a run or source the view's rows alone answer (their
 * value is the amplitude); a run or source needs each document read.
 */
export async function detectionCounts(store: Store, options: DetectionCountsOptions): Promise<number[]> {
  const {from, to, binS} = options;
  if (!(binS > 0)) throw new ConfigError(`bin ${binS}: expected a number of seconds above 0`);
  const bins = Math.max(1, Math.ceil((to - from) / binS));
  if (bins > (options.maxBins ?? 10_000)) throw new ConfigError(`bin ${binS}: ${bins} bins from ${from} to ${to}, more than ${options.maxBins ?? 10_000}; give a wider bin`);
  const counts = new Array<number>(bins).fill(0);
  for await (const row of eachDetectionRow(store, from, to, {includeDocs: needsDoc(options), signal: options.signal})) {
    if (!rowKept(row, options)) continue;
    counts[Math.min(bins - 1, Math.floor((row.time - from) / binS))]! += 1;
  }
  return counts;
}
