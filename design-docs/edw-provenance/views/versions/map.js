// Per data-file document and step: the version of the step's latest completion of record (any epoch),
// key [step, version]; reduce _count. `edw status --versions` compares it with the configured version.
function (doc) {
  if (!Array.isArray(doc.process)) return;
  var latest = {};
  for (var i = 0; i < doc.process.length; i++) {
    var e = doc.process[i];
    if (e && typeof e.name === 'string' && (e.status === undefined || e.status === 'done') && !e.superseded) {
      latest[e.name] = typeof e.version === 'string' ? e.version : '';
    }
  }
  for (var name in latest) {
    if (latest.hasOwnProperty(name)) emit([name, latest[name]], null);
  }
}
