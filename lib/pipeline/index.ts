export {completedEntry, entryEpoch, epochOf, hasCompleted, inputOf, isCompleted, isDataFile, isOfRecord, outputPath, stageOf, viewStateOf} from './document.js';
export type {Claim, DataFileDoc, EdwState, ProcessEntry, ReprocessMark, StepOutput, StepResult} from './document.js';
export {readiness, type Readiness, type StepIdentity} from './readiness.js';
export {mergeRevisions} from './merge.js';
export {compareCompletions, isSuperseded, markSuperseded, recordOf, supersededBy, supersedingIndex, withoutMark, type SupersededMark} from './record.js';
export {fileTime, inPeriod, isExcluded, PERIOD_PREFIX, periodMark, periodsInForce, type PeriodDoc, type PeriodKind, type PeriodMark} from './periods.js';
