import {hasCompleted, isDataFile, stageOf} from './document.js';
import {isExcluded} from './periods.js';
import type {Doc} from '../store/index.js';

/** What a listener for one step should do with a document now. */
export type Readiness =
  | {kind: 'run'; attempt: number}
  | {kind: 'claimed'; until: number; owner: string}
  | {kind: 'later'; at: number}
  | {kind: 'failed'}
  | {kind: 'done'}
  | {kind: 'bad'}
  /** In a period of kind exclude (`edw period add`): not processed while it holds. */
  | {kind: 'excluded'}
  | {kind: 'elsewhere'};

export interface StepIdentity {
  name: string;
  after: string;
  version: string;
}

/** Decide, without I/O, whether `step` should run on `doc` at time `now` (epoch ms), for listener `owner`. */
export function readiness(doc: Doc | null, step: StepIdentity, now: number, owner?: string): Readiness {
  if (!isDataFile(doc)) return {kind: 'elsewhere'};
  if (hasCompleted(doc, step.name, step.version)) return {kind: 'done'};
  if (stageOf(doc) !== step.after) return {kind: 'elsewhere'};
  if (doc.status !== 'good') return {kind: 'bad'};
  if (isExcluded(doc)) return {kind: 'excluded'};
  const edw = doc.edw ?? {};
  if (edw.failed) return {kind: 'failed'};
  const claim = edw.claim;
  if (claim && claim.expires > now && claim.owner !== owner) return {kind: 'claimed', until: claim.expires, owner: claim.owner};
  const retry = edw.retry && edw.retry.step === step.name ? edw.retry : undefined;
  if (retry && retry.next > now) return {kind: 'later', at: retry.next};
  return {kind: 'run', attempt: (retry?.attempts ?? 0) + 1};
}
