export {statusCounts, statusFromCounts, statusFromView, type RowCounts, type StatusCounts} from './status.js';
export {DOC_STATES, docCellOf, INSIDE_STATES, nextStep, type Cell, type DocState} from './states.js';
export {listDocuments, stageHasDocuments, type ListEnd, type Listed, type ListOptions} from './list.js';
export {detectionRates, eachDetection, matchesDetection, type DetectionFilter, type DetectionsOptions, type RateBin} from './detections.js';
export {failedAt, retryDocument, type RetryVerdict} from './retry.js';
export {listListeners, type ListenerReport} from './listeners.js';
