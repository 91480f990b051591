import {stageOf, viewStateOf, type DataFileDoc} from '../pipeline/index.js';

/**
 * Where a document stands at its stage: the columns of `edw status` and the filters of `edw list`
 * (`in_progress` is `--in-progress`). Each document is in exactly one, decided in this order:
 * - `bad`: its status is not "good", so it is not processed;
 * - `failed`: failed for good at the step after its stage, until `edw retry`;
 * - `in_progress`: a listener holds a live claim on it (a retry being run now included);
 * - `retrying`: a step failed in a way that may pass, and is tried again at `edw.retry.next`;
 * - `done`: no configured step follows its stage (the last step's stage);
 * - `waiting`: for the step that follows its stage.
 */
export type DocState = 'waiting' | 'in_progress' | 'retrying' | 'failed' | 'done' | 'bad';

/** The states in the order the status table shows them. */
export const DOC_STATES: readonly DocState[] = ['waiting', 'in_progress', 'retrying', 'failed', 'done', 'bad'];

/** The state part of a stage-view key (design-docs/edw/views/stage/map.js). */
export type ViewState = ReturnType<typeof viewStateOf>;

/** The stage-view states a document in each state is keyed under: where `edw list` reads it from. */
export const VIEW_STATES: Readonly<Record<DocState, readonly ViewState[]>> = {
  bad: ['bad'],
  failed: ['failed'],
  in_progress: ['ready', 'retry'],
  retrying: ['retry'],
  done: ['ready'],
  waiting: ['ready'],
};

/** The step that follows `stage` in a chain of steps given in order (`new` is followed by the first). */
export function nextStep(steps: readonly string[], stage: string): string | undefined {
  if (stage === 'new') return steps[0];
  const i = steps.indexOf(stage);
  return i >= 0 ? steps[i + 1] : undefined;
}

/**
 * A document's state from what status and list both know of it: its stage-view state, whether it
 * holds a live claim, and whether a step follows its stage. The one rule both commands apply.
 */
export function stateOf(viewState: ViewState, claimed: boolean, followed: boolean): DocState {
  if (viewState === 'bad' || viewState === 'failed') return viewState;
  if (claimed) return 'in_progress';
  if (viewState === 'retry') return 'retrying';
  return followed ? 'waiting' : 'done';
}

/** Whether the document holds a claim (as the claims view and the kept counts see one) whose lease has not ended at `now` (epoch ms). */
export function claimedAt(doc: DataFileDoc, now: number): boolean {
  const claim = doc.edw?.claim;
  return !!claim && typeof claim.step === 'string' && claim.expires > now;
}

/** A data-file document's state at `now`, for a chain of `steps` given in order. */
export function docStateOf(doc: DataFileDoc, steps: readonly string[], now: number): DocState {
  return stateOf(viewStateOf(doc), claimedAt(doc, now), nextStep(steps, stageOf(doc)) !== undefined);
}
