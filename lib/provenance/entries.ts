import {entryEpoch, isCompleted, isOfRecord, outputPath, type DataFileDoc, type ProcessEntry, type StepOutput} from '../pipeline/index.js';

/** A file as lineage and provenance report it: where it is, its md5 and size when known. */
export interface FileRef {
  path: string;
  md5?: string;
  bytes?: number;
}

/** One entry of a document's history as lineage and provenance report it. */
export interface EntryReport {
  /** Index in `process` (from 0). */
  index: number;
  step: string;
  version?: string;
  epoch: number;
  status: string;
  host?: string;
  /** The user the listener ran as. */
  user?: string;
  started?: string;
  finished?: string;
  code?: unknown;
  settings?: unknown;
  inputs: FileRef[];
  outputs: FileRef[];
  superseded?: boolean;
}

/** The file an entry read: what its result says (`input`, `source`), else the original file for a first step. */
export function entryInput(doc: DataFileDoc, index: number): string | undefined {
  const result = doc.process[index]?.result ?? {};
  const given = typeof result.input === 'string' ? result.input : typeof result.source === 'string' ? result.source : undefined;
  if (given !== undefined) return given;
  // A step that does not say (a command): the output of the latest completion before it, else the original file.
  const before = previousCompletion(doc, index);
  return before >= 0 ? outputPath(doc.process[before]!) : doc.original_file;
}

/** The latest completion of record of another step before entry `index`: the step this one followed (-1: none). */
export function previousCompletion(doc: DataFileDoc, index: number): number {
  for (let i = index - 1; i >= 0; i--) {
    const before = doc.process[i]!;
    if (isOfRecord(before) && before.name !== doc.process[index]!.name) return i;
  }
  return -1;
}

/** Where a path came from in a document: the original file (md5 from registration) or an entry's output. */
export function fileRef(doc: DataFileDoc, path: string): FileRef {
  if (path === doc.original_file) return {path, ...(doc.md5sum ? {md5: doc.md5sum} : {}), ...(doc.bytes !== undefined ? {bytes: doc.bytes} : {})};
  for (let i = doc.process.length - 1; i >= 0; i--) {
    const out = outputsOf(doc.process[i]!).find((o) => o.path === path);
    if (out) return out;
  }
  return {path};
}

function outputsOf(entry: ProcessEntry): FileRef[] {
  const outputs = (entry.result?.outputs ?? []) as StepOutput[];
  const listed: FileRef[] = outputs.filter((o) => o && typeof o.path === 'string').map((o) => ({path: o.path, md5: o.md5, bytes: o.bytes}));
  return listed.length ? listed : typeof entry.file === 'string' ? [{path: entry.file}] : [];
}

/** An entry as reported: step, version, epoch, code, host, times, inputs and outputs with md5. */
export function entryReport(doc: DataFileDoc, index: number): EntryReport {
  const e = doc.process[index]!;
  const input = entryInput(doc, index);
  return {
    index, step: e.name, ...(e.version !== undefined ? {version: e.version} : {}), epoch: entryEpoch(e),
    status: e.superseded ? 'superseded' : isCompleted(e) ? 'done' : 'failed',
    ...(e.host ?? e.hostname ? {host: String(e.host ?? e.hostname)} : {}), ...(typeof e.user === 'string' ? {user: e.user} : {}),
    ...(e.started ? {started: e.started} : {}), ...(e.finished ? {finished: e.finished} : {}),
    ...(e.code ? {code: e.code} : {}), ...(e.settings ? {settings: e.settings} : {}),
    inputs: input ? [fileRef(doc, input)] : [], outputs: outputsOf(e), ...(e.superseded ? {superseded: true} : {}),
  };
}

/** The chain of completions that led to entry `index`, from the one that read the original file, `index` last. */
export function chainTo(doc: DataFileDoc, index: number): number[] {
  const chain = [index];
  let input = entryInput(doc, index);
  for (let guard = 0; input !== doc.original_file && guard < doc.process.length; guard++) {
    const at = chain[0]!;
    // An entry whose input is not a file (the step before it wrote none) followed the completion before it.
    let found = input === undefined ? previousCompletion(doc, at) : -1;
    for (let i = at - 1; i >= 0 && input !== undefined; i--) {
      if (isOfRecord(doc.process[i]!) && outputsOf(doc.process[i]!).some((o) => o.path === input)) {
        found = i;
        break;
      }
    }
    if (found < 0) break;
    chain.unshift(found);
    input = entryInput(doc, found);
  }
  return chain;
}

/** The completions derived from `paths` (what read them, and what read those), in history order. */
export function derivedFrom(doc: DataFileDoc, paths: string[], after = -1): number[] {
  const known = new Set(paths);
  const out: number[] = [];
  doc.process.forEach((e, i) => {
    if (i <= after || !isOfRecord(e)) return;
    const input = entryInput(doc, i);
    // An entry whose input is not a file followed the completion before it: derived if that one is.
    const derived = input !== undefined ? known.has(input) : out.includes(previousCompletion(doc, i));
    if (!derived) return;
    out.push(i);
    for (const o of outputsOf(e)) known.add(o.path);
  });
  return out;
}

/** Every copy of the file's data a document records: the original and the outputs of steps that copy it (same md5). */
export function copiesOf(doc: DataFileDoc): Array<FileRef & {by: string}> {
  const copies: Array<FileRef & {by: string}> = [{...fileRef(doc, doc.original_file ?? ''), by: 'registered'}];
  doc.process.forEach((e, i) => {
    if (!isOfRecord(e)) return;
    for (const o of outputsOf(e)) if (o.md5 && o.md5 === doc.md5sum) copies.push({...o, by: `${e.name} (entry ${i + 1})`});
  });
  return copies.filter((c) => c.path);
}
