/** The documents and files the bench writes: data-file documents of about 400 bytes, small raw files. */
import {createHash} from 'node:crypto';
import {mkdir, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import type {DataFileDoc, ProcessEntry} from '../../lib/pipeline/index.js';

/** Id of the i-th bench document: sortable, in the run_nnn shape of real ones. */
export function benchId(i: number, prefix = 'bench'): string {
  return `${prefix}_${String(i).padStart(7, '0')}`;
}

/**
 * A data-file document as `edw register` writes it, about 400 bytes of JSON, with `process` already
 * holding `entries` (completed entries of the given step names) when asked.
 */
export function dataFileDoc(i: number, options: {prefix?: string; entries?: ProcessEntry[]} = {}): DataFileDoc {
  const id = benchId(i, options.prefix);
  return {
    _id: id,
    run: options.prefix ?? 'bench',
    md5sum: createHash('md5').update(id).digest('hex'),
    bytes: 204_872 + i,
    original_file: `/daq/raw/bench/${id}.edwr`,
    datecreated: 1_764_000_000 + i / 10,
    status: 'good',
    conditions: {temperature: 0.0158, volts: {detector_a: [8, -8, 2, -2], detector_b: [4, -4, 1, -1]}, gain: 12.5, comment: 'bench run', detector: 'FID800-germanium', operator: 'bench'},
    process: options.entries ?? [],
  };
}

/** A completed process entry as the runtime writes it (no-op result). */
export function doneEntry(name: string, at = new Date()): ProcessEntry {
  const iso = at.toISOString();
  return {name, status: 'done', started: iso, finished: iso, host: 'bench', version: '1', attempt: 1, result: {}};
}

/** Write `count` small files (`bytes` each, distinct content) named `<prefix>_<nnnnnnn>.edwr` into `dir`. */
export async function writeSmallFiles(dir: string, count: number, options: {prefix?: string; bytes?: number} = {}): Promise<string[]> {
  await mkdir(dir, {recursive: true});
  const bytes = options.bytes ?? 1024;
  const paths: string[] = [];
  const batch = 256;
  for (let start = 0; start < count; start += batch) {
    const writes: Promise<void>[] = [];
    for (let i = start; i < Math.min(count, start + batch); i++) {
      const path = join(dir, `${benchId(i, options.prefix)}.edwr`);
      const content = Buffer.alloc(bytes, i % 251);
      content.writeUInt32LE(i, 0);
      paths.push(path);
      writes.push(writeFile(path, content));
    }
    await Promise.all(writes);
  }
  return paths;
}
