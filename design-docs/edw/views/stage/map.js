// Key [stage, state, _id] for every data-file document (a document with a `process` array):
// state 'ready' (waits for the next step), 'retry' (waits until edw.retry.next, value), 'failed'
// (failed for good at the step in the value, until `edw retry`), 'bad' (status is not "good"),
// 'excluded' (in a period of kind exclude: `edw period add`; steps do not run on it).
// group_level=1 counts per stage, 2 per stage and state; the id in the key makes every key unique, so
// a key range pages through one stage and state on every backend (PouchDB has no startkey_docid).
function (doc) {
  // !code lib/stage.js
  // !code lib/excluded.js
  if (!Array.isArray(doc.process)) return;
  var edw = doc.edw || {};
  var state = 'ready';
  var value = null;
  if (doc.status !== 'good') {
    state = 'bad';
  } else if (edwExcluded(doc)) {
    state = 'excluded';
  } else if (edw.failed) {
    state = 'failed';
    value = edw.failed.step;
  } else if (edw.retry) {
    state = 'retry';
    value = edw.retry.next;
  }
  emit([edwStage(doc), state, doc._id], value);
}
