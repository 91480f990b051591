import {ConfigError} from '../errors/index.js';
import {DESIGN} from '../design/index.js';
import type {Doc, Store} from '../store/index.js';

/** Read a time given as epoch seconds or an ISO 8601 date into epoch seconds. */
export function parseTime(value: string, option: string): number {
  if (/^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new ConfigError(`${option} ${value}: expected epoch seconds or an ISO 8601 date`);
  return ms / 1000;
}

/** Detection documents with `from <= time <= to` (epoch seconds), in time order. */
export async function findDetections(store: Store, from: number, to: number, limit?: number): Promise<Doc[]> {
  const result = await store.query({design: DESIGN, view: 'detections', startkey: from, endkey: to, includeDocs: true, ...(limit ? {limit} : {})});
  return result.rows.map((row) => row.doc).filter((doc): doc is Doc => !!doc);
}
