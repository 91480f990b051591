import {epochOf, fileTime, isExcluded, isOfRecord, PERIOD_PREFIX, periodsInForce, stageOf, type DataFileDoc, type PeriodDoc, type ReprocessMark} from '../pipeline/index.js';
import type {Store} from '../store/index.js';
import {copiesOf, entryReport, type EntryReport, type FileRef} from './entries.js';
import type {ReprocessRecord} from './reprocess.js';
import type {Resolved} from './targets.js';

/** A file in a provenance report: where each copy is, its periods, where it stands, and everything done to it. */
export interface ReportFile {
  id: string;
  run?: string;
  md5?: string;
  bytes?: number;
  time?: number;
  stage: string;
  epoch: number;
  excluded: boolean;
  copies: Array<FileRef & {by: string}>;
  /** Every entry of its history, failed and superseded ones included, first processing first. */
  history: EntryReport[];
}

/** Per step and version: the code that ran, on which hosts, when, with which settings, how often. */
export interface CodeUse {
  step: string;
  version: string;
  runs: number;
  codes: unknown[];
  settings: unknown[];
  hosts: string[];
  /** The users the listeners ran as. */
  users: string[];
  first?: string;
  last?: string;
}

/** `edw provenance`: one report answering the seed's questions for a set of documents. */
export interface ProvenanceReport {
  generated: string;
  /** How the set was chosen (run, query, period, selection, ids) and how many documents it holds. */
  selection: Resolved['asked'] & {documents: number};
  /** Which files (and where each copy is). */
  files: ReportFile[];
  /** Ids asked for that are not data-file documents. */
  missing: string[];
  /** The periods any of them was ever marked in: kind, range, who, when, why, removal; with the files it holds now. */
  periods: Array<PeriodDoc & {files_in_force: string[]}>;
  /** Which code (and version) did each step, who ran it where and when. */
  code: CodeUse[];
  /** The reprocessings asked for on these files: who, when, why, which step and version. */
  reprocessings: Array<ReprocessMark & {files: number; record?: Pick<ReprocessRecord, 'asked' | 'versions'>}>;
  /** Where the intermediate files are: every output recorded, per step, with md5. */
  intermediates: Array<{step: string; version?: string; file: string; path: string; md5?: string; bytes?: number}>;
}

const BATCH = 500;

/** Build the provenance report of a resolved set of documents: reads them (in batches), their periods and reprocess records. */
export async function provenanceReport(store: Store, targets: Resolved, now = Date.now()): Promise<ProvenanceReport> {
  const files: ReportFile[] = [];
  const missing: string[] = [];
  const code = new Map<string, CodeUse>();
  const periodFiles = new Map<string, string[]>();
  const marks = new Map<string, ReprocessMark & {files: number}>();
  const intermediates: ProvenanceReport['intermediates'] = [];
  for (let start = 0; start < targets.ids.length; start += BATCH) {
    const ids = targets.ids.slice(start, start + BATCH);
    const docs = await store.getMany(ids);
    docs.forEach((doc, i) => {
      if (!doc || !Array.isArray((doc as DataFileDoc).process)) return void missing.push(ids[i]!);
      const d = doc as DataFileDoc;
      const history = d.process.map((_, index) => entryReport(d, index));
      files.push({
        id: d._id, ...(d.run ? {run: d.run} : {}), ...(d.md5sum ? {md5: d.md5sum} : {}), ...(d.bytes !== undefined ? {bytes: d.bytes} : {}),
        ...(fileTime(d) !== undefined ? {time: fileTime(d)} : {}), stage: stageOf(d), epoch: epochOf(d),
        excluded: isExcluded(d), copies: copiesOf(d), history,
      });
      for (const mark of d.periods ?? []) if (!periodFiles.has(mark.period)) periodFiles.set(mark.period, []);
      for (const mark of periodsInForce(d)) periodFiles.get(mark.period)!.push(d._id);
      for (const mark of d.reprocess ?? []) {
        const seen = marks.get(mark.id) ?? {...mark, files: 0};
        seen.files++;
        marks.set(mark.id, seen);
      }
      d.process.forEach((e, index) => {
        if (!isOfRecord(e)) return;
        const key = `${e.name}\u0000${e.version ?? ''}`;
        const use = code.get(key) ?? {step: e.name, version: e.version ?? '', runs: 0, codes: [], settings: [], hosts: [], users: []};
        use.runs++;
        addOnce(use.codes, e.code);
        addOnce(use.settings, e.settings);
        const host = String(e.host ?? e.hostname ?? '');
        if (host && !use.hosts.includes(host)) use.hosts.push(host);
        if (typeof e.user === 'string' && !use.users.includes(e.user)) use.users.push(e.user);
        if (e.started && (!use.first || e.started < use.first)) use.first = e.started;
        if (e.finished && (!use.last || e.finished > use.last)) use.last = e.finished;
        code.set(key, use);
        for (const o of history[index]!.outputs) intermediates.push({step: e.name, ...(e.version ? {version: e.version} : {}), file: d._id, ...o});
      });
    });
  }
  const periodDocs = periodFiles.size ? await store.getMany([...periodFiles.keys()].map((n) => `${PERIOD_PREFIX}${n}`)) : [];
  const records = marks.size ? await store.getMany([...marks.keys()].map((id) => `reprocess:${id}`)) : [];
  return {
    generated: new Date(now).toISOString(),
    selection: {...targets.asked, documents: targets.ids.length},
    files, missing,
    periods: periodDocs.filter((p): p is PeriodDoc => !!p).map((p) => ({...p, files_in_force: periodFiles.get(p.name) ?? []})),
    code: [...code.values()],
    reprocessings: [...marks.values()].map((m, i) => {
      const record = records[i] as ReprocessRecord | null;
      return {...m, ...(record ? {record: {asked: record.asked, versions: record.versions}} : {})};
    }),
    intermediates,
  };
}

function addOnce(list: unknown[], value: unknown): void {
  if (value === undefined) return;
  const text = JSON.stringify(value);
  if (!list.some((v) => JSON.stringify(v) === text)) list.push(value);
}
