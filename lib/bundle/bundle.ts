import {createHash} from 'node:crypto';
import {mkdir, readFile, rename, rm, stat, writeFile} from 'node:fs/promises';
import {join, resolve} from 'node:path';
import {create as createTar} from 'tar';
import {recordBundle, requireQueryDoc, type BundleRecord} from '../query/index.js';
import type {DataFileDoc} from '../pipeline/index.js';
import type {Store} from '../store/index.js';
import {Fetcher, type RemoteAccess} from './fetch.js';
import {bundleSources, type BundleSource} from './locate.js';

export interface BundleOptions {
  /** `raw` (the data files) or a step's name (what it produced). */
  what: string;
  /** The bundle's folder. */
  out: string;
  /** The archive's path. @default `<out>.tar`, or `<out>.tar.gz` with gzip */
  archive?: string;
  /** Compress the archive. @default false */
  gzip?: boolean;
  /** The first step of the chain (whose copy of a raw file stands in for an original not on this host). */
  firstStep?: string;
  /** How to reach files on another host. @default none: such files stop the bundle */
  remote?: RemoteAccess;
  /** After each file: files done (kept or copied) of all, and bytes. */
  onProgress?: (progress: {files: number; total: number; bytes: number}) => void;
  signal?: AbortSignal;
}

/** One file of the manifest. */
export interface ManifestFile {
  path: string;
  bytes: number;
  md5: string;
  id: string;
  step: string | null;
  version: string | null;
  entry: BundleSource['entry'];
}

export interface BundleReport {
  dir: string;
  archive: string;
  files: number;
  /** Files copied by this run. */
  copied: number;
  /** Files a run before (killed, or complete) had verified, kept as they were. */
  kept: number;
  bytes: number;
  manifestMd5: string;
}

/** The bundle's progress, beside it: files verified so far, so a run after a kill keeps them. */
const STATE_FILE = '.edw-bundle.json';
const MANIFEST = 'manifest.json';

/**
 * Copy the files of a query's answer into `out`, each verified against its recorded md5 on the way in,
 * write `manifest.json`, then the archive (under a temporary name, renamed once complete), and record
 * the bundle in the query document. A run killed part-way leaves the files it verified (listed in
 * `.edw-bundle.json`), which the next run keeps. A file whose bytes do not match stops the bundle
 * before any manifest or archive is written; an archive from an earlier run is removed first, so no
 * archive claims a bundle that is not complete.
 */
export async function makeBundle(store: Store, qid: string, options: BundleOptions): Promise<BundleReport> {
  const dir = resolve(options.out);
  const archive = resolve(options.archive ?? `${dir}.tar${options.gzip ? '.gz' : ''}`);
  const query = await requireQueryDoc(store, qid);
  await mkdir(dir, {recursive: true});
  const docs: Array<DataFileDoc | null> = [];
  for (let i = 0; i < query.ids.length; i += 200) docs.push(...(await store.getMany(query.ids.slice(i, i + 200), options.signal)) as Array<DataFileDoc | null>);
  // Every file is located before any is copied: a document without the output asked for stops it here.
  const sources = bundleSources(docs, query.ids, options.what, options.firstStep);
  await rm(archive, {force: true});
  await rm(join(dir, MANIFEST), {force: true});
  const stateFile = join(dir, STATE_FILE);
  const state = await readState(stateFile, qid, options.what);
  const fetcher = new Fetcher(options.remote);
  const files: ManifestFile[] = [];
  let copied = 0;
  let kept = 0;
  let bytes = 0;
  try {
    for (const source of sources) {
      const target = join(dir, source.path);
      const size = (await stat(target).catch(() => null))?.size;
      let got: number;
      if (state.verified[source.path] === source.md5 && size !== undefined && (source.bytes === undefined || size === source.bytes)) {
        got = size;
        kept++;
      } else {
        got = await fetcher.fetch(source, target, options.signal);
        copied++;
        state.verified[source.path] = source.md5;
        await writeState(stateFile, state);
      }
      bytes += got;
      files.push({path: source.path, bytes: got, md5: source.md5, id: source.id, step: source.step, version: source.version, entry: source.entry});
      options.onProgress?.({files: files.length, total: sources.length, bytes});
    }
  } finally {
    await fetcher.close();
  }
  const manifest = `${JSON.stringify({query: qid, what: options.what, files}, null, 1)}\n`;
  await writeFile(join(dir, MANIFEST), manifest);
  const temporary = `${archive}.edw-partial`;
  await createTar({file: temporary, gzip: !!options.gzip, cwd: dir, portable: true}, [MANIFEST, ...files.map((f) => f.path)]);
  await rename(temporary, archive);
  await rm(stateFile, {force: true});
  const manifestMd5 = createHash('md5').update(manifest).digest('hex');
  const record: BundleRecord = {dir, archive, what: options.what, files: files.length, bytes, manifest_md5: manifestMd5, made: new Date().toISOString()};
  await recordBundle(store, qid, record);
  return {dir, archive, files: files.length, copied, kept, bytes, manifestMd5};
}

interface BundleState {
  query: string;
  what: string;
  /** md5 of each file verified, by its path in the bundle. */
  verified: Record<string, string>;
}

async function readState(file: string, query: string, what: string): Promise<BundleState> {
  const text = await readFile(file, 'utf8').catch(() => null);
  const state = text ? (JSON.parse(text) as BundleState) : null;
  // Another query's or another kind's progress in this folder says nothing about these files.
  return state && state.query === query && state.what === what ? state : {query, what, verified: {}};
}

/** Written whole under another name, then renamed: a kill leaves the old state or the new, never half of one. */
async function writeState(file: string, state: BundleState): Promise<void> {
  await writeFile(`${file}.tmp`, JSON.stringify(state));
  await rename(`${file}.tmp`, file);
}
