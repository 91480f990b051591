import {ConfigError} from '../errors/index.js';
import {epochOf, stageOf, type DataFileDoc, type ReprocessMark} from '../pipeline/index.js';
import type {Doc, Store} from '../store/index.js';
import {changeFiles, whoAmI} from './marks.js';
import type {Resolved} from './targets.js';

/** A step of the chain as configured: what reprocessing needs to know of it. */
export interface ChainEntry {
  name: string;
  after: string;
  /** The version it runs at now (edw.ini's, else the step's own). */
  version: string;
}

export interface ReprocessOptions {
  /** The configured chain, in order. */
  chain: ChainEntry[];
  /** The first step to run again (every later step runs again too). */
  step: string;
  /** The version it must run at: refused unless it is the configured one. @default the configured one */
  version?: string;
  targets: Resolved;
  reason: string;
  /** @default user@host */
  by?: string;
  /** @default Date.now */
  now?: () => number;
}

/** The `reprocess:<id>` record: what was asked, by whom, when and why, and which documents it marked. */
export interface ReprocessRecord extends Doc {
  type: 'reprocess';
  step: string;
  after: string;
  version: string;
  /** Every step that runs again, with the version it runs at. */
  versions: Record<string, string>;
  asked: Resolved['asked'];
  reason: string;
  by: string;
  at: string;
  marked: string[];
  skipped: Array<{id: string; why: string}>;
}

/**
 * Make documents run `step` and every step after it again: each gets a mark in its append-only
 * `reprocess` array (a new epoch), which sets its stage back to the stage before `step`; listeners
 * then run the steps again at their configured versions and append new entries; no entry is changed.
 * A document not yet past that stage (it will run the step anyway) or missing is skipped, saying why.
 * Returns the `reprocess:<id>` record written.
 */
export async function reprocess(store: Store, options: ReprocessOptions): Promise<ReprocessRecord> {
  const index = options.chain.findIndex((s) => s.name === options.step);
  if (index < 0) throw new ConfigError(`unknown step ${options.step} (steps: ${options.chain.map((s) => s.name).join(', ')})`);
  const step = options.chain[index]!;
  if (options.version !== undefined && options.version !== step.version) {
    throw new ConfigError(`--version ${options.version}: step ${step.name} is configured at version ${step.version}; set version = ${options.version} in [step.${step.name}] first, so that the listeners run it`);
  }
  if (!options.reason?.trim()) throw new ConfigError('--reason is empty: say why the documents are processed again');
  const stages = ['new', ...options.chain.map((s) => s.name)];
  const now = new Date((options.now ?? Date.now)());
  const by = options.by ?? whoAmI();
  const id = `${now.toISOString().replace(/[-:]/g, '').replace('.', '')}-${step.name}-v${step.version}`;
  const mark: ReprocessMark = {id, step: step.name, after: step.after, version: step.version, reason: options.reason, at: now.toISOString(), by};
  const skipped: Array<{id: string; why: string}> = [];
  const found = new Set<string>();
  const marked = await changeFiles(store, options.targets.ids, (doc) => {
    found.add(doc._id);
    const stage = stageOf(doc);
    const at = stages.indexOf(stage);
    if (at < stages.indexOf(step.after)) {
      if (!skipped.some((s) => s.id === doc._id)) skipped.push({id: doc._id, why: `at stage ${stage}: ${step.name} runs on it at version ${step.version} when it gets there`});
      return null;
    }
    // A failure or a retry at a step that runs again is the old run's: the new one starts afresh.
    const {failed: _failed, retry: _retry, ...edw} = doc.edw ?? {};
    return {...doc, reprocess: [...(doc.reprocess ?? []), mark], edw} as DataFileDoc;
  });
  for (const missing of options.targets.ids.filter((i) => !found.has(i))) skipped.push({id: missing, why: 'no such data-file document'});
  const record: ReprocessRecord = {
    _id: `reprocess:${id}`, type: 'reprocess', step: step.name, after: step.after, version: step.version,
    versions: Object.fromEntries(options.chain.slice(index).map((s) => [s.name, s.version])),
    asked: options.targets.asked, reason: options.reason, by, at: now.toISOString(), marked, skipped,
  };
  await store.put(record);
  return record;
}

/** The epoch a document is in, for reports: how many reprocessings it went through. */
export {epochOf};
