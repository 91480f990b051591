// The feed a listener follows: good data-file documents whose stage is the query parameter `stage`.
function (doc, req) {
  // !code lib/stage.js
  if (doc._deleted || !Array.isArray(doc.process) || doc.status !== 'good') return false;
  return edwStage(doc) === req.query.stage;
}
