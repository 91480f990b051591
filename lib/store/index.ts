export type {Change, ChangesPage, ChangesParams, Doc, FindParams, FindPlan, FindResult, GetOptions, IndexSpec, Store, StoreInfo, ViewKey, ViewParams, ViewResult, ViewRow, WriteOutcome} from './types.js';
export {openStore, isServerUrl, type OpenStoreOptions} from './open.js';
export {parseDatabaseUrl} from './couch-store.js';
export {SHARE_FILE} from './share.js';
export {CouchAuth, isReader, type CouchAuthOptions, type Credentials, type SecurityObject, type UserContext} from './couch-auth.js';
