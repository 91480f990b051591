// Data-file documents keyed by run.
function (doc) {
  if (Array.isArray(doc.process) && typeof doc.run === 'string') emit(doc.run, null);
}
