import {hostname} from 'node:os';
import {basename} from 'node:path';
import {EdwError} from '../errors/index.js';
import {completedEntry, isDataFile, type DataFileDoc, type ProcessEntry} from '../pipeline/index.js';

/** Where a file of a bundle comes from, and what it must be. */
export interface BundleSource {
  /** Its path in the bundle, relative to the bundle's folder. */
  path: string;
  /** Where it is: a host other than this one is reached over SFTP. */
  from: {host?: string; path: string};
  bytes?: number;
  md5: string;
  /** The data-file document it belongs to. */
  id: string;
  /** The step that made it and its version (null for a raw file). */
  step: string | null;
  version: string | null;
  /** The process entry that records it: its position in `process`, when it finished, where it ran. */
  entry: {index: number; finished?: string; host?: string} | null;
  /** A raw file's other place: the first step's verified copy, used when the original is not on this host. */
  alternative?: {from: {host?: string; path: string}; entry: {index: number; finished?: string; host?: string}};
}

/** Whether a recorded host is another machine than this one. */
function elsewhere(host: unknown): string | undefined {
  return typeof host === 'string' && host !== '' && host !== hostname() ? host : undefined;
}

interface RecordedOutput {
  path?: string;
  bytes?: number;
  md5?: string;
}

/** The outputs of an entry, each with the host it was written on (an SFTP push's destination, else the entry's host). */
function outputsOf(entry: ProcessEntry): Array<{path: string; bytes?: number; md5?: string; host?: string}> {
  const result = (entry.result ?? {}) as {outputs?: RecordedOutput[]; destination?: {host?: string}; transport?: string};
  const host = result.transport === 'sftp' ? result.destination?.host : undefined;
  return (result.outputs ?? []).filter((o) => typeof o.path === 'string').map((o) => ({path: o.path!, bytes: o.bytes, md5: o.md5, ...(host ? {host} : {})}));
}

/**
 * The files of one document for a bundle. `raw`: the data file itself, as registered (`original_file`,
 * `md5sum`), or, when it is not on this host, the copy the first step made of it. A step: what its
 * completion of record lists in `outputs`, each with the md5 recorded there.
 */
export function locateFiles(doc: DataFileDoc, what: string, firstStep: string | undefined): BundleSource[] {
  const run = typeof doc.run === 'string' && doc.run ? doc.run : 'unknown-run';
  const entryOf = (entry: ProcessEntry) => ({index: doc.process.indexOf(entry), ...(entry.finished ? {finished: String(entry.finished)} : {}), ...(entry.host ? {host: String(entry.host)} : {})});
  if (what === 'raw') {
    if (!doc.original_file || !doc.md5sum) throw new EdwError(`document ${doc._id} records no original_file with its md5sum: its raw file cannot be bundled`);
    const copy = firstStep ? completedEntry(doc, firstStep) : undefined;
    const copied = copy ? outputsOf(copy)[0] : undefined;
    return [{
      path: `${run}/${basename(doc.original_file)}`, from: {path: doc.original_file}, ...(typeof doc.bytes === 'number' ? {bytes: doc.bytes} : {}),
      md5: doc.md5sum, id: doc._id, step: null, version: null, entry: null,
      ...(copied && copy ? {alternative: {from: {path: copied.path, ...(elsewhere(copied.host) ? {host: copied.host} : {})}, entry: entryOf(copy)}} : {}),
    }];
  }
  const entry = completedEntry(doc, what);
  if (!entry) throw new EdwError(`document ${doc._id} has not completed ${what}: nothing of it to bundle (edw query --done ${what} keeps those that did)`);
  const outputs = outputsOf(entry);
  if (outputs.length === 0) throw new EdwError(`document ${doc._id}: its ${what} entry records no output file`);
  return outputs.map((o) => {
    if (!o.md5) throw new EdwError(`document ${doc._id}: the ${what} output ${o.path} has no recorded md5 to verify it against`);
    const host = elsewhere(o.host);
    return {
      path: `${run}/${basename(o.path)}`, from: {path: o.path, ...(host ? {host} : {})}, ...(o.bytes !== undefined ? {bytes: o.bytes} : {}),
      md5: o.md5, id: doc._id, step: what, version: entry.version === undefined ? null : String(entry.version), entry: entryOf(entry),
    };
  });
}

/** The files of every document, each path in the bundle once: a second file of one name in a run gets its document id in front. */
export function bundleSources(docs: Array<DataFileDoc | null>, ids: string[], what: string, firstStep: string | undefined): BundleSource[] {
  const sources: BundleSource[] = [];
  const taken = new Set<string>();
  docs.forEach((doc, i) => {
    if (!isDataFile(doc)) throw new EdwError(`document ${ids[i]} of the answer no longer exists: run the query again (edw query --fresh)`);
    for (const source of locateFiles(doc, what, firstStep)) {
      if (taken.has(source.path)) source.path = source.path.replace(/[^/]+$/, (name) => `${doc._id}-${name}`);
      taken.add(source.path);
      sources.push(source);
    }
  });
  return sources;
}
