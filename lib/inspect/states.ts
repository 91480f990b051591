import {stageOf, viewStateOf, type DataFileDoc} from '../pipeline/index.js';

/**
 * A document's state: the columns of `edw status` and the filters of `edw list` (`in_progress` is
 * `--in-progress`). Each document is in exactly one, decided in this order:
 * - `bad`: its status is not "good", so it is not processed;
 * - `excluded`: in a period of kind exclude (`edw period add`), so it is not processed while that holds;
 * - `failed`: failed for good at the step after its stage, until `edw retry`;
 * - `in_progress`: a listener holds a live claim on it (a retry being run now included);
 * - `retrying`: a step failed in a way that may pass, and is tried again at `edw.retry.next`;
 * - `done`: no configured step follows its stage (the last step's stage);
 * - `waiting`: for the step that follows its stage.
 */
export type DocState = 'waiting' | 'in_progress' | 'retrying' | 'failed' | 'done' | 'bad' | 'excluded';

/** The states in the order the status table shows them. */
export const DOC_STATES: readonly DocState[] = ['waiting', 'in_progress', 'retrying', 'failed', 'done', 'bad', 'excluded'];

/**
 * The states of a document inside a step (the one after its stage): it is counted in that step's row,
 * not in the row of the stage it stands at, so that a document failed at step S is in row S.
 */
export const INSIDE_STATES: readonly DocState[] = ['in_progress', 'retrying', 'failed'];

/** The state part of a stage-view key (design-docs/edw/views/stage/map.js). */
export type ViewState = ReturnType<typeof viewStateOf>;

/** Where a document is counted by `edw status` and found by `edw list --stage ROW --STATE`. */
export interface Cell {
  /** `new` or a step (or a stage no configured step follows any more). */
  row: string;
  state: DocState;
}

/** The step that follows `stage` in a chain of steps given in order (`new` is followed by the first). */
export function nextStep(steps: readonly string[], stage: string): string | undefined {
  if (stage === 'new') return steps[0];
  const i = steps.indexOf(stage);
  return i >= 0 ? steps[i + 1] : undefined;
}

/**
 * The cell of a document from what status and list both know of it: the stage it stands at (its last
 * completed step), its stage-view state, and whether it holds a live claim. The one rule both commands
 * apply. A document inside a step is in that step's row; any other in its stage's row. A document
 * whose stage no configured step follows (a step since removed) stays in its stage's row.
 */
export function cellOf(steps: readonly string[], stage: string, viewState: ViewState, claimed: boolean): Cell {
  const next = nextStep(steps, stage);
  const state: DocState =
    viewState === 'bad' || viewState === 'failed' || viewState === 'excluded' ? viewState
      : claimed ? 'in_progress'
        : viewState === 'retry' ? 'retrying'
          : next !== undefined ? 'waiting' : 'done';
  return {row: INSIDE_STATES.includes(state) ? next ?? stage : stage, state};
}

/** The stages whose documents are inside step `row` (in row `row` while in progress, retrying or failed). */
export function stagesInside(steps: readonly string[], row: string): string[] {
  const before = ['new', ...steps].filter((stage) => nextStep(steps, stage) === row);
  return nextStep(steps, row) === undefined ? [...before, row] : before;
}

/** Whether the document holds a claim (as the claims view and the kept counts see one) whose lease has not ended at `now` (epoch ms). */
export function claimedAt(doc: DataFileDoc, now: number): boolean {
  const claim = doc.edw?.claim;
  return !!claim && typeof claim.step === 'string' && claim.expires > now;
}

/** A data-file document's cell at `now`, for a chain of `steps` given in order. */
export function docCellOf(doc: DataFileDoc, steps: readonly string[], now: number): Cell {
  return cellOf(steps, stageOf(doc), viewStateOf(doc), claimedAt(doc, now));
}
