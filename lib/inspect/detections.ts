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
 * Detection documents with `from <= time <= to` (epoch seconds; undefined: no bound), in view order
 * (time, then id), read from the `detections` view one page at a time, so that any number of them
 * takes the memory of one page.
 */
export async function* eachDetection(store: Store, from: number | undefined, to: number | undefined, options: DetectionsOptions = {}): AsyncGenerator<Doc> {
  const pageSize = options.pageSize ?? 500;
  if (!(Number.isInteger(pageSize) && pageSize >= 1)) throw new TypeError(`eachDetection option pageSize: expected a whole number of at least 1, got ${pageSize}`);
  // The store has no startkey_docid: a page starts at the last key seen and skips the rows of that key
  // already given (rows of one key come in id order). Later pages read the index as the first left it.
  let startkey = from;
  let seenAtKey = 0;
  for (let first = true; ; first = false) {
    const {rows} = await store.query({
      design: DESIGN, view: 'detections', ...(startkey !== undefined ? {startkey} : {}), ...(to !== undefined ? {endkey: to} : {}),
      ...(options.toExclusive ? {inclusiveEnd: false} : {}), includeDocs: true, limit: pageSize,
      ...(seenAtKey ? {skip: seenAtKey} : {}), ...(first ? {} : {update: false}), signal: options.signal,
    });
    for (const row of rows) {
      const key = row.key as number;
      seenAtKey = key === startkey ? seenAtKey + 1 : 1;
      startkey = key;
      if (row.doc) yield row.doc;
    }
    if (rows.length < pageSize) return;
  }
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

export function matchesDetection(doc: Doc, filter: DetectionFilter): boolean {
  const amplitude = Number(doc.amplitude);
  if (filter.runs?.length && !filter.runs.includes(String(doc.run))) return false;
  if (filter.sources?.length && !filter.sources.includes(String(doc.source))) return false;
  if (filter.minAmplitude !== undefined && !(amplitude >= filter.minAmplitude)) return false;
  if (filter.maxAmplitude !== undefined && !(amplitude <= filter.maxAmplitude)) return false;
  return true;
}

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
