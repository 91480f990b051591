export {advanceCounts, countsFromView, loadCounts, refreshCounts, saveCounts, StageCounts, COUNTS_ID, type Place, type RefreshOptions} from './counts.js';
