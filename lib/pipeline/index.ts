export {completedEntry, hasCompleted, inputOf, isCompleted, isDataFile, outputPath, stageOf, viewStateOf} from './document.js';
export type {Claim, DataFileDoc, EdwState, ProcessEntry, StepOutput, StepResult} from './document.js';
export {readiness, type Readiness, type StepIdentity} from './readiness.js';
export {mergeRevisions} from './merge.js';
