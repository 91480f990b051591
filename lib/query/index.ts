export {parseTime, checkZone, seasonRange, monthRange, weekRange, midnight, startOfDay, type TimeRange} from './time.js';
export {parseFilter, parseValue, OPERATORS, type Filter, type Operator, type Scalar} from './filters.js';
export {canonicalQuery, describeQuery, queryId, type QueryForm, type QueryInput} from './canonical.js';
export {filterClause, planQuery, type QueryPlan} from './plan.js';
export {idsMd5, runPlan, type Answer} from './run.js';
export {queryDocId, readQueryDoc, recordBundle, requireQueryDoc, stagesOf, type BundleRecord, type QueryDoc} from './cache.js';
export {BUILTIN_INDEX_FIELDS, pushQueryIndexes, QUERY_DESIGN} from './indexes.js';
export {runQuery, showQuery, type QueryChanges, type QueryOptions, type QueryResult} from './query.js';
export {queryFromArgs, timeBounds, timeFilters, TIME_FIELD, type QueryArgs, type TimeBounds} from './options.js';
