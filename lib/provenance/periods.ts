import {ConfigError, ConflictError, NotFoundError} from '../errors/index.js';
import {inPeriod, PERIOD_PREFIX, periodMark, periodsInForce, fileTime, type DataFileDoc, type PeriodDoc, type PeriodKind} from '../pipeline/index.js';
import type {Store} from '../store/index.js';
import {changeFiles, idsOf, PROVENANCE_DESIGN, whoAmI} from './marks.js';

export interface AddPeriodOptions {
  /** Letters, digits, `.`, `_` and `-`. */
  name: string;
  /** Epoch seconds, both ends included; with `to`. */
  from?: number;
  to?: number;
  /** Runs whose files are in the period whatever their time. @default [] */
  runs?: string[];
  /** @default 'exclude' */
  kind?: PeriodKind;
  reason: string;
  /** Who sets it. @default user@host */
  by?: string;
  /** @default Date.now */
  now?: () => number;
}

export const PERIOD_KINDS: readonly PeriodKind[] = ['exclude', 'include', 'note'];

/** Check what `edw period add` was given, before anything is written (exit 2 naming the option). */
function checkPeriod(options: AddPeriodOptions): void {
  if (!/^[\w.-]+$/.test(options.name)) throw new ConfigError(`period name ${JSON.stringify(options.name)}: expected letters, digits, '.', '_' or '-'`);
  if (!options.reason?.trim()) throw new ConfigError('--reason is empty: say why the period is set apart');
  if (!PERIOD_KINDS.includes(options.kind ?? 'exclude')) throw new ConfigError(`--kind ${options.kind}: expected ${PERIOD_KINDS.join(', ')}`);
  const timed = options.from !== undefined || options.to !== undefined;
  if (timed && (options.from === undefined || options.to === undefined)) throw new ConfigError('--from and --to go together');
  if (!timed && !options.runs?.length) throw new ConfigError('a period needs --from and --to, or --run');
  if (timed && options.to! < options.from!) throw new ConfigError(`--to is before --from`);
}

/** The files in a period: those whose time falls in it and those of its runs (read from the provenance views). */
async function filesIn(store: Store, period: PeriodDoc): Promise<string[]> {
  const ids = new Set<string>();
  if (period.from !== undefined && period.to !== undefined) for (const id of await idsOf(store, 'file_time', {startkey: period.from, endkey: period.to})) ids.add(id);
  for (const run of period.runs) for (const id of await idsOf(store, 'file_run', {key: run})) ids.add(id);
  return [...ids].sort();
}

/**
 * Store a period document (who, when, why) and mark every file in it: each gets an `add` mark in its
 * append-only `periods` array; steps do not run on a file in a period of kind exclude. A period of
 * that name that exists (even removed) is refused.
 */
export async function addPeriod(store: Store, options: AddPeriodOptions): Promise<{period: PeriodDoc; marked: string[]}> {
  checkPeriod(options);
  const at = new Date((options.now ?? Date.now)()).toISOString();
  const period: PeriodDoc = {
    _id: `${PERIOD_PREFIX}${options.name}`, type: 'period', name: options.name, kind: options.kind ?? 'exclude',
    ...(options.from !== undefined ? {from: options.from, to: options.to} : {}), runs: options.runs ?? [],
    reason: options.reason, by: options.by ?? whoAmI(), at,
  };
  const [outcome] = await store.bulkWrite([period]);
  if (!outcome!.ok) {
    if (outcome!.error === 'conflict') throw new ConflictError(`period ${options.name} exists (see edw period show ${options.name}); choose another name`);
    throw new Error(`period ${options.name} was refused: ${outcome!.reason}`);
  }
  // In force before the files are searched: a registration that writes a file after the search reads it.
  await setActive(store, period.name, true);
  const marked = await changeFiles(store, await filesIn(store, period), (doc) => {
    if (!inPeriod(period, doc) || periodsInForce(doc).some((m) => m.period === period.name)) return null;
    return {...doc, periods: [...(doc.periods ?? []), periodMark(period, 'add', period.by, at)]};
  });
  return {period, marked};
}

async function getPeriod(store: Store, name: string): Promise<PeriodDoc> {
  const doc = await store.get(`${PERIOD_PREFIX}${name}`);
  if (!doc || doc.type !== 'period') throw new NotFoundError(`no period ${name} (edw period list shows them)`);
  return doc as PeriodDoc;
}

/** Remove a period: it records the removal (who, when, why) and each of its files gets a `remove` mark; nothing is deleted. */
export async function removePeriod(store: Store, name: string, reason: string, options: {by?: string; now?: () => number} = {}): Promise<{period: PeriodDoc; unmarked: string[]}> {
  if (!reason?.trim()) throw new ConfigError('--reason is empty: say why the period is removed');
  const period = await getPeriod(store, name);
  if (period.removed) throw new ConflictError(`period ${name} was removed at ${period.removed.at} by ${period.removed.by}`);
  const removed = {reason, by: options.by ?? whoAmI(), at: new Date((options.now ?? Date.now)()).toISOString()};
  await store.put({...period, removed});
  await setActive(store, name, false);
  const ids = (await store.query({design: PROVENANCE_DESIGN, view: 'period_files', key: name, reduce: false})).rows.filter((r) => r.value === true).map((r) => r.id!);
  const unmarked = await changeFiles(store, ids, (doc) => {
    if (!periodsInForce(doc).some((m) => m.period === name)) return null;
    return {...doc, periods: [...(doc.periods ?? []), periodMark(period, 'remove', removed.by, removed.at, reason)]};
  });
  return {period: {...period, removed}, unmarked};
}

/** Every period, removed ones included, by name. */
export async function listPeriods(store: Store): Promise<PeriodDoc[]> {
  const result = await store.query({design: PROVENANCE_DESIGN, view: 'periods', includeDocs: true, reduce: false});
  return result.rows.map((row) => row.doc as PeriodDoc).filter(Boolean);
}

/** A file as `edw period show` lists it: whether the period holds for it now. */
export interface PeriodFile {
  id: string;
  run: string | null;
  time: number | null;
  in_force: boolean;
}

/** A period and every file ever marked in it. */
export async function showPeriod(store: Store, name: string): Promise<{period: PeriodDoc; files: PeriodFile[]}> {
  const period = await getPeriod(store, name);
  const rows = (await store.query({design: PROVENANCE_DESIGN, view: 'period_files', key: name, reduce: false, includeDocs: true})).rows;
  const files = rows.map((row) => {
    const doc = row.doc as DataFileDoc;
    return {id: row.id!, run: doc.run ?? null, time: fileTime(doc) ?? null, in_force: row.value === true};
  });
  return {period, files};
}

/**
 * The names of the periods in force, in one document, so that `edw register` reads one document (and
 * the periods it names) rather than a view that would first have to index every registration.
 */
const ACTIVE_ID = 'edw-periods';

/** Add or take a name out of the list of periods in force (through conflicts with another writer). */
async function setActive(store: Store, name: string, active: boolean): Promise<void> {
  for (let tries = 0; ; tries++) {
    const doc = await store.get(ACTIVE_ID);
    const names = ((doc?.names as string[] | undefined) ?? []).filter((n) => n !== name);
    if (active) names.push(name);
    const [outcome] = await store.bulkWrite([{...(doc ?? {_id: ACTIVE_ID, type: 'periods-in-force'}), names: names.sort()}]);
    if (outcome!.ok) return;
    if (outcome!.error !== 'conflict' || tries >= 50) throw new Error(`${ACTIVE_ID} was refused: ${outcome!.reason}`);
  }
}

/** The periods in force now (not removed), for marking files as they are registered: two reads, no view. */
export async function activePeriods(store: Store): Promise<PeriodDoc[]> {
  const names = ((await store.get(ACTIVE_ID))?.names as string[] | undefined) ?? [];
  if (names.length === 0) return [];
  const docs = await store.getMany(names.map((n) => `${PERIOD_PREFIX}${n}`));
  return docs.filter((d): d is PeriodDoc => !!d && d.type === 'period' && !d.removed);
}
