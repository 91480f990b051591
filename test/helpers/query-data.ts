/**
 * Documents as analysts meet them (facilities, runs, dates across two seasons, conditions of every
 * kind) and an evaluator of a query written here from the filters' meaning, to check edw query's
 * answers against: it reads every document in memory, which edw query must not.
 */
import type {Doc} from '../../lib/store/index.js';
import type {QueryForm, Scalar} from '../../lib/query/index.js';

const FACILITIES = ['tunka', 'taiga', 'kaskad'];
const WEATHER = ['clear', 'cloud', 'rain', 'snow'];
/** 2024-08-01T00:00:00Z: the documents span August 2024 to about March 2026, two seasons and a summer between. */
export const FIRST_TIME = Date.UTC(2024, 7, 1) / 1000;

/** `n` data-file documents, the same for the same `n`. */
export function analystDocs(n: number, prefix = 'f'): Doc[] {
  return Array.from({length: n}, (_, i) => {
    const facility = FACILITIES[i % 3]!;
    const process: Array<Record<string, unknown>> = [];
    const entry = (name: string, version: string, status = 'done'): Record<string, unknown> =>
      ({name, status, version, started: '2026-01-01T00:00:00.000Z', finished: '2026-01-01T00:00:01.000Z', host: 'h', attempt: 1});
    const stage = i % 4;
    if (stage >= 1) process.push(i % 10 === 5 ? {name: 'move_to_sps', file: `/sps/${i}`} : entry('move_to_sps', '1'));
    if (stage >= 2) process.push(entry('signal_processing', i % 8 < 4 ? '1' : '2'));
    if (stage === 3) process.push(entry('ingest_detections', '1', 'failed'));
    const conditions: Record<string, unknown> = {
      temperature: i % 97 === 0 ? null : ((i * 37) % 100) / 1000,
      energy: (i * 13) % 200,
      weather: WEATHER[(i * 7) % 4],
      volts: {detector_a: [(i % 4) * 2, -8, 2, -2]},
      tags: i % 5 === 0 ? ['calibration', WEATHER[i % 4]] : [WEATHER[i % 4]],
      note: i % 6 === 0 ? `test run ${i}` : 'physics',
    };
    if (i % 11 !== 0) conditions.channel = ['A', 'B', 'C'][(i * 7) % 3];
    return {
      _id: `${prefix}${String(i).padStart(5, '0')}`,
      run: `${facility}-${String(Math.floor(i / 50)).padStart(2, '0')}`,
      facility,
      status: i % 50 === 7 ? 'bad' : 'good',
      md5sum: '0'.repeat(32),
      datecreated: FIRST_TIME + Math.floor(i * (600 * 86400) / n) + (i % 13) * 60,
      original_file: `/daq/${prefix}${i}.edwr`,
      conditions,
      process,
      ...(stage === 3 ? {edw: {failed: {step: 'ingest_detections', at: '2026-01-01T00:00:01.000Z', attempts: 3, error: 'x'}}} : {}),
    };
  });
}

function field(doc: unknown, path: string): {found: boolean; value: unknown} {
  let value: unknown = doc;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object' || !(part in (value as object))) return {found: false, value: undefined};
    value = (value as Record<string, unknown>)[part];
  }
  return {found: true, value};
}

function completed(doc: Doc, step: string): boolean {
  const [name, version] = step.split('@');
  return ((doc.process as Array<Record<string, unknown>>) ?? []).some((e) => e.name === name && (version === undefined || e.version === version) && (e.status === undefined || e.status === 'done'));
}

function stageOfDoc(doc: Doc): string {
  const done = ((doc.process as Array<Record<string, unknown>>) ?? []).filter((e) => e.status === undefined || e.status === 'done');
  return (done[done.length - 1]?.name as string | undefined) ?? 'new';
}

/** Whether `doc` answers `form`, from the filters' meaning. */
export function matches(doc: Doc, form: QueryForm): boolean {
  if (!Array.isArray(doc.process)) return false;
  for (const f of form.filters) {
    const {found, value} = field(doc, f.path);
    if (!found) return false;
    const v = f.value as Scalar;
    const ordered = typeof value === typeof v && value !== null;
    const ok = {
      '=': () => value === v,
      '!=': () => value !== v,
      '<': () => ordered && (value as number) < (v as number),
      '<=': () => ordered && (value as number) <= (v as number),
      '>': () => ordered && (value as number) > (v as number),
      '>=': () => ordered && (value as number) >= (v as number),
      'in': () => (f.value as Scalar[]).includes(value as Scalar),
      'contains': () => (Array.isArray(value) ? value.includes(v) : typeof value === 'string' && typeof v === 'string' && value.includes(v)),
      'prefix': () => typeof value === 'string' && value.startsWith(String(v)),
    }[f.op]();
    if (!ok) return false;
  }
  if (form.stages.length && !form.stages.includes(stageOfDoc(doc))) return false;
  if (form.failed && !(doc.edw as {failed?: unknown} | undefined)?.failed) return false;
  if (!form.done.every((s) => completed(doc, s))) return false;
  if (form.notDone.some((s) => completed(doc, s))) return false;
  return true;
}

/** The ids of `docs` answering `form`, sorted. */
export function expectedIds(docs: Doc[], form: QueryForm): string[] {
  return docs.filter((d) => matches(d, form)).map((d) => d._id).sort();
}
