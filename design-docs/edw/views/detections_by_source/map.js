// Detection documents keyed by the data-file document they came from (to replace them on a re-run).
function (doc) {
  if (doc.type === 'detection' && typeof doc.source === 'string') {
    emit(doc.source, null);
  }
}
