export {statusCounts, statusFromCounts, statusFromView, type RowCounts, type StatusCounts} from './status.js';
export {DOC_STATES, docCellOf, INSIDE_STATES, nextStep, type Cell, type DocState} from './states.js';
export {checkStage, listDocuments, stageHasDocuments, type ListEnd, type Listed, type ListOptions} from './list.js';
export {detectionCounts, detectionRates, detectionsPage, eachDetection, matchesDetection, type DetectionCountsOptions, type DetectionFilter, type DetectionPosition, type DetectionsOptions, type DetectionsPageOptions, type RateBin} from './detections.js';
export {failedAt, retryDocument, retryDocuments, type RetryOutcome, type RetryVerdict} from './retry.js';
export {listListeners, type ListenerReport} from './listeners.js';
export {timelineOf, type Timeline, type TimelineEntry} from './timeline.js';
