/** The CouchDB-compatible server fixture lives with the scripts that share it (chaos, bench). */
export * from '../../scripts/support/couch-server.js';
