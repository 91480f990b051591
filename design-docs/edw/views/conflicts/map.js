// Documents with replication conflicts right now (CouchDB passes `_conflicts` to map functions): key the
// document id, value how many losing revisions it has. `edw status` counts them with the reduce on
// CouchDB; listeners find and merge them from the changes feed (lib/conflicts).
function (doc) {
  if (doc._conflicts && doc._conflicts.length) emit(doc._id, doc._conflicts.length);
}
