export {activePeriods, addPeriod, listPeriods, PERIOD_KINDS, removePeriod, showPeriod, type AddPeriodOptions, type PeriodFile} from './periods.js';
export {changeFiles, PROVENANCE_DESIGN, whoAmI} from './marks.js';
export {queryIds, resolveTargets, type Resolved, type Targets} from './targets.js';
export {listSelections, saveSelection, selectionIds, showSelection, type SelectionDoc, type SelectionVersion} from './selections.js';
export {reprocess, type ChainEntry, type ReprocessOptions, type ReprocessRecord} from './reprocess.js';
export {versionCounts, type StepVersions} from './versions.js';
