import {readdir, stat} from 'node:fs/promises';
import {basename, extname, join, resolve} from 'node:path';
import md5File from 'md5-file';
import PQueue from 'p-queue';
import picomatch from 'picomatch';
import {inPeriod, isDataFile, periodMark, periodsInForce, type DataFileDoc, type PeriodDoc} from '../pipeline/index.js';
import {activePeriods, changeFiles, whoAmI} from '../provenance/index.js';
import type {Doc, Store} from '../store/index.js';

export interface RegisterOptions {
  store: Store;
  /** Files (registered as given) and directories (their data files matching `glob`). */
  paths: string[];
  /** One JSON object recorded as `conditions` on every document of the call. @default {} */
  conditions?: Record<string, unknown>;
  /** Re-register a file whose md5 changed: keep the old md5 and history in `previous`, start again. @default false */
  replace?: boolean;
  /** File-name glob of data files in a directory. @default '*.edwr' */
  glob?: string;
  /** In a directory, skip files modified less than this long ago (a DAQ may still write them). @default 10000 */
  settleMs?: number;
  /** First group applied to the id gives `run`. @default /^(.+)_[^_]*$/ (the part before the last `_`) */
  runPattern?: RegExp;
  /** Documents per `_bulk_docs` request. @default 500 */
  batchSize?: number;
  /** Files hashed at once. @default 4 */
  hashConcurrency?: number;
  /**
   * A file's md5 (hex). @default md5-file's streaming hash of the file's content. The bench passes
   * known sums to time registration without the hashing.
   */
  hashFile?: (path: string) => Promise<string>;
  /** Epoch ms; for tests. @default Date.now */
  now?: () => number;
  /** Called after each batch with documents handled so far and the total. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Why an entry of a given directory was left out: `settling` modified less than `settleMs` ago,
 * `not-matching` its name does not match `glob`, `not-regular` not a regular file (a folder, a
 * symbolic link, a pipe), `vanished` gone between the listing and its stat.
 */
export type SkipReason = 'settling' | 'not-matching' | 'not-regular' | 'vanished';

export interface RegisterReport {
  created: string[];
  /** Already registered with the same md5: nothing written. */
  unchanged: string[];
  replaced: string[];
  /** Refused, one reason each (the document is left as it was). */
  refused: Array<{id: string; path: string; reason: string}>;
  /** Entries of the given directories left out, each with its reason, in directory order. */
  skipped: Array<{path: string; reason: SkipReason}>;
  /** Given directories in which no regular file matched `glob`. */
  empty: string[];
  /** Paths that do not exist or cannot be read. */
  missing: Array<{path: string; reason: string}>;
}

interface Candidate {
  id: string;
  path: string;
}

async function expand(paths: string[], glob: string, settleMs: number, now: number, report: RegisterReport): Promise<Candidate[]> {
  const isData = picomatch(glob);
  const files: string[] = [];
  for (const given of paths) {
    const path = resolve(given);
    const info = await stat(path).catch(() => null);
    if (!info) {
      report.missing.push({path, reason: 'does not exist'});
    } else if (info.isDirectory()) {
      let matched = 0;
      for (const entry of (await readdir(path, {withFileTypes: true})).sort((a, b) => a.name.localeCompare(b.name))) {
        const file = join(path, entry.name);
        const skip = (reason: SkipReason): number => report.skipped.push({path: file, reason});
        if (!isData(entry.name)) {
          skip('not-matching');
          continue;
        }
        if (!entry.isFile()) {
          skip('not-regular');
          continue;
        }
        matched++;
        const fileInfo = await stat(file).catch(() => null);
        if (!fileInfo) skip('vanished');
        else if (now - fileInfo.mtimeMs < settleMs) skip('settling');
        else files.push(file);
      }
      if (matched === 0) report.empty.push(path);
    } else if (info.isFile()) {
      files.push(path);
    } else {
      report.missing.push({path, reason: 'is not a regular file'});
    }
  }
  const seen = new Map<string, string>();
  const out: Candidate[] = [];
  for (const path of files) {
    const id = basename(path, extname(path));
    const first = seen.get(id);
    if (first !== undefined) {
      if (first !== path) report.refused.push({id, path, reason: `same document id as ${first}`});
      continue;
    }
    seen.set(id, path);
    out.push({id, path});
  }
  return out;
}

function decide(existing: Doc | null, fresh: DataFileDoc, replace: boolean, now: number): {doc?: DataFileDoc; verdict: 'created' | 'unchanged' | 'replaced' | string} {
  if (!existing) return {doc: fresh, verdict: 'created'};
  if (!isDataFile(existing)) return {verdict: `document ${fresh._id} exists and is not a data-file document`};
  if (existing.md5sum === fresh.md5sum) return {verdict: 'unchanged'};
  if (!replace) {
    return {verdict: `document ${fresh._id} is registered with md5 ${existing.md5sum ?? 'none'}, file has ${fresh.md5sum} (use --replace to register it again)`};
  }
  const {_id, _rev, edw, previous, process, periods, reprocess, ...old} = existing;
  const history = {
    md5sum: old.md5sum, bytes: old.bytes, original_file: old.original_file, datecreated: old.datecreated,
    replaced: new Date(now).toISOString(), process, ...(reprocess ? {reprocess} : {}),
  };
  // The token counter carries over: a listener still working on the old file must not find its token
  // handed out again and record the old file's result on the new registration.
  const token = Math.max(edw?.token ?? 0, edw?.claim?.token ?? 0);
  // The file's period marks stay (append-only): its time is the same file's, and a new mark is added only for a period it was not in.
  const marks = [...(periods ?? []), ...(fresh.periods ?? []).filter((m) => !periods?.some((p) => p.period === m.period))];
  return {doc: {...fresh, _rev, previous: [...(previous ?? []), history], ...(marks.length ? {periods: marks} : {}), ...(token ? {edw: {token}} : {})}, verdict: 'replaced'};
}

/** Register data files: one document each, written in `_bulk_docs` batches. Never changes a document it refuses. */
export async function registerFiles(options: RegisterOptions): Promise<RegisterReport> {
  const now = options.now ?? Date.now;
  const report: RegisterReport = {created: [], unchanged: [], replaced: [], refused: [], skipped: [], empty: [], missing: []};
  const candidates = await expand(options.paths, options.glob ?? '*.edwr', options.settleMs ?? 10_000, now(), report);
  const runPattern = options.runPattern ?? /^(.+)_[^_]*$/;
  const batchSize = options.batchSize ?? 500;
  const hashing = new PQueue({concurrency: options.hashConcurrency ?? 4});
  const hashFile = options.hashFile ?? md5File;
  // A file that falls in a period in force is marked as it is registered; one added while this call
  // runs is looked for again at the end (markLatePeriods).
  const periods: PeriodDoc[] = candidates.length ? await activePeriods(options.store) : [];
  const by = periods.length ? whoAmI() : '';
  let done = 0;
  for (let start = 0; start < candidates.length; start += batchSize) {
    const batch = candidates.slice(start, start + batchSize);
    const described = await Promise.all(batch.map((c) => hashing.add(async () => {
      try {
        const [md5sum, info] = await Promise.all([hashFile(c.path), stat(c.path)]);
        const doc: DataFileDoc = {
          _id: c.id, run: runPattern.exec(c.id)?.[1] ?? c.id, md5sum, bytes: info.size, original_file: c.path,
          datecreated: now() / 1000, file_mtime: info.mtimeMs / 1000, status: 'good', conditions: options.conditions ?? {}, process: [],
        };
        const at = new Date(now()).toISOString();
        const marks = periods.filter((period) => inPeriod(period, doc)).map((period) => periodMark(period, 'add', by, at));
        return marks.length ? {...doc, periods: marks} : doc;
      } catch (error) {
        report.missing.push({path: c.path, reason: `cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`});
        return null;
      }
    })));
    let pending = described.filter((d): d is DataFileDoc => !!d);
    // Written as new documents first, without a read: a new file (the common case, and the one a DAQ
    // waits on) costs one request. A 409 means the id exists (registered before, or by someone else
    // meanwhile): read it and decide again.
    for (let round = 0; pending.length > 0 && round < 6; round++) {
      const existing = round === 0 ? pending.map(() => null) : await options.store.getMany(pending.map((d) => d._id));
      const writes: Array<{doc: DataFileDoc; verdict: 'created' | 'replaced'}> = [];
      pending.forEach((fresh, i) => {
        const {doc, verdict} = decide(existing[i] ?? null, fresh, options.replace ?? false, now());
        if (verdict === 'unchanged') report.unchanged.push(fresh._id);
        else if (doc && (verdict === 'created' || verdict === 'replaced')) writes.push({doc, verdict});
        else report.refused.push({id: fresh._id, path: fresh.original_file ?? '', reason: verdict});
      });
      const outcomes = await options.store.bulkWrite(writes.map((w) => w.doc));
      const again: DataFileDoc[] = [];
      outcomes.forEach((outcome, i) => {
        const {doc, verdict} = writes[i]!;
        if (outcome.ok) report[verdict].push(doc._id);
        else if (outcome.error === 'conflict') again.push({...doc, _rev: undefined} as DataFileDoc);
        else report.refused.push({id: doc._id, path: doc.original_file ?? '', reason: `refused by the database: ${outcome.reason}`});
      });
      pending = again.map(({_rev, ...d}) => d as DataFileDoc);
    }
    for (const doc of pending) report.refused.push({id: doc._id, path: doc.original_file ?? '', reason: 'kept conflicting with other writers; try again'});
    done += batch.length;
    options.onProgress?.(done, candidates.length);
  }
  await markLatePeriods(options.store, periods, [...report.created, ...report.replaced]);
  return report;
}

/**
 * Periods added while the files were being registered: `edw period add` writes its period, then marks
 * the files it finds; a file written after that search is marked here, read after every write (one
 * of the two always sees the other).
 */
async function markLatePeriods(store: Store, known: PeriodDoc[], ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  const late = (await activePeriods(store)).filter((p) => !known.some((k) => k._id === p._id));
  if (late.length === 0) return;
  await changeFiles(store, ids, (doc) => {
    const marks = late.filter((p) => inPeriod(p, doc) && !periodsInForce(doc).some((m) => m.period === p.name)).map((p) => periodMark(p, 'add', p.by, p.at));
    return marks.length ? {...doc, periods: [...(doc.periods ?? []), ...marks]} : null;
  });
}
