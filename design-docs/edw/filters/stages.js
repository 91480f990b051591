// The feed a listener process follows: good data-file documents, not excluded by a period, whose stage is one of the query
// parameter `stages`, step names between commas (`,new,move_to_sps,`): never valid JSON, so
// servers that parse JSON-looking parameters (pouchdb-server) pass it on as the string it is.
function (doc, req) {
  // !code lib/stage.js
  // !code lib/excluded.js
  if (doc._deleted || !Array.isArray(doc.process) || doc.status !== 'good' || edwExcluded(doc)) return false;
  return String(req.query.stages).indexOf(',' + edwStage(doc) + ',') !== -1;
}
