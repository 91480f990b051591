import {ConfigError, NotFoundError} from '../errors/index.js';
import type {Doc, Store} from '../store/index.js';
import {whoAmI} from './marks.js';
import type {Targets} from './targets.js';

/** One version of a selection: the documents it held from `at` on, how they were chosen, who saved it and why. */
export interface SelectionVersion {
  version: number;
  ids: string[];
  asked: Targets;
  reason: string;
  by: string;
  at: string;
}

/** A named selection, `selection:NAME`: its versions, append-only, the last one current. */
export interface SelectionDoc extends Doc {
  type: 'selection';
  name: string;
  versions: SelectionVersion[];
}

const idOf = (name: string): string => `selection:${name}`;

async function getSelection(store: Store, name: string): Promise<SelectionDoc> {
  const doc = await store.get(idOf(name));
  if (!doc || doc.type !== 'selection') throw new NotFoundError(`no selection ${name} (edw selection list shows them)`);
  return doc as SelectionDoc;
}

/** The ids of a selection's current (latest) version. */
export async function selectionIds(store: Store, name: string): Promise<string[]> {
  const doc = await getSelection(store, name);
  return doc.versions[doc.versions.length - 1]!.ids;
}

/**
 * Save `ids` (already resolved from `asked`) as the next version of selection `name` (the first when
 * new). Earlier versions stay as they were: what a selection was at any time can be read back.
 */
export async function saveSelection(store: Store, name: string, ids: string[], asked: Targets, options: {reason?: string; by?: string; now?: () => number} = {}): Promise<SelectionVersion> {
  if (!/^[\w.-]+$/.test(name)) throw new ConfigError(`selection name ${JSON.stringify(name)}: expected letters, digits, '.', '_' or '-'`);
  for (let tries = 0; ; tries++) {
    const existing = (await store.get(idOf(name))) as SelectionDoc | null;
    if (existing && existing.type !== 'selection') throw new ConfigError(`${idOf(name)} exists and is not a selection`);
    const versions = existing?.versions ?? [];
    const version: SelectionVersion = {
      version: versions.length + 1, ids, asked, reason: options.reason ?? '', by: options.by ?? whoAmI(),
      at: new Date((options.now ?? Date.now)()).toISOString(),
    };
    const doc: SelectionDoc = {...(existing ?? {_id: idOf(name), type: 'selection', name}), versions: [...versions, version]} as SelectionDoc;
    const [outcome] = await store.bulkWrite([doc]);
    if (outcome!.ok) return version;
    if (outcome!.error !== 'conflict' || tries >= 20) throw new Error(`selection ${name} was refused: ${outcome!.reason}`);
  }
}

/** A selection as it was at time `at` (epoch seconds; default now): the version current then. */
export async function showSelection(store: Store, name: string, at?: number): Promise<{name: string; version: SelectionVersion; versions: number}> {
  const doc = await getSelection(store, name);
  const when = at === undefined ? Infinity : at * 1000;
  const version = [...doc.versions].reverse().find((v) => Date.parse(v.at) <= when);
  if (!version) throw new NotFoundError(`selection ${name} did not exist at ${new Date(when).toISOString()} (its first version is of ${doc.versions[0]!.at})`);
  return {name, version, versions: doc.versions.length};
}

/** Every selection, with its current version. */
export async function listSelections(store: Store): Promise<Array<{name: string; current: SelectionVersion; versions: number}>> {
  const rows = (await store.query({design: 'edw-provenance', view: 'selections', includeDocs: true, reduce: false})).rows;
  return rows.map((row) => row.doc as SelectionDoc).filter(Boolean).map((d) => ({name: d.name, current: d.versions[d.versions.length - 1]!, versions: d.versions.length}));
}
