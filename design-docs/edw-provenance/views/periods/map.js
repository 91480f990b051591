// Period documents (`edw period add`), keyed by name; value whether removed.
function (doc) {
  if (doc.type === 'period' && typeof doc.name === 'string') emit(doc.name, !!doc.removed);
}
