// Saved selections (`edw selection save`), keyed by name; value how many versions.
function (doc) {
  if (doc.type === 'selection' && typeof doc.name === 'string' && Array.isArray(doc.versions)) emit(doc.name, doc.versions.length);
}
