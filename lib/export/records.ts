import {isDataFile, stageOf} from '../pipeline/index.js';
import type {Doc} from '../store/index.js';

/** What an export holds: data-file documents, or detection documents. */
export type ExportKind = 'documents' | 'detections';
export type ExportFormat = 'ndjson' | 'csv';

/** Whether a document of the feed is a record of this export (`ids`: the answer of `--query`, when given). */
export function isRecord(doc: Doc | undefined, kind: ExportKind, ids: Set<string> | undefined): doc is Doc {
  if (!doc || doc._deleted) return false;
  if (kind === 'documents') return isDataFile(doc) && (!ids || ids.has(doc._id));
  return doc.type === 'detection' && (!ids || ids.has(String(doc.source)));
}

/** Nested objects as dotted columns (`conditions.volts.detector_a`); arrays as JSON text. */
function flatten(value: Record<string, unknown>, prefix: string, out: Record<string, unknown>): void {
  for (const [key, v] of Object.entries(value)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) flatten(v as Record<string, unknown>, `${prefix}${key}.`, out);
    else out[`${prefix}${key}`] = v;
  }
}

/**
 * A record as one row of columns. A data-file document: its own fields, `stage`, and its conditions
 * flattened (`conditions.temperature`); `process` and edw's bookkeeping (`edw`) are left out. A
 * detection: all its fields, flattened.
 */
export function recordColumns(doc: Doc, kind: ExportKind): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (kind === 'documents') {
    const {process: _process, edw: _edw, ...rest} = doc;
    flatten(rest, '', out);
    out.stage = isDataFile(doc) ? stageOf(doc) : null;
  } else {
    flatten(doc, '', out);
  }
  return out;
}

/** The columns of a CSV export, from its first records: `_id` and `_rev` first, then the rest sorted. */
export function csvColumns(rows: Array<Record<string, unknown>>): string[] {
  const names = new Set<string>();
  for (const row of rows) for (const name of Object.keys(row)) names.add(name);
  return ['_id', '_rev', ...[...names].filter((n) => n !== '_id' && n !== '_rev').sort()];
}

/** One CSV field: quoted when it holds a comma, a quote or a line break (RFC 4180). */
function csvField(value: unknown): string {
  if (value === undefined || value === null) return '';
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvLine(values: unknown[]): string {
  return `${values.map(csvField).join(',')}\n`;
}
