// Whether a data-file document is in a period of kind `exclude` now: the latest mark of each period in
// its append-only `periods` array says whether it holds (`add`) or was taken back (`remove`). Same
// rule as isExcluded in lib/pipeline/periods.ts. Inlined by the `// !code lib/excluded.js` line.
function edwExcluded(doc) {
  var held = {};
  var marks = Array.isArray(doc.periods) ? doc.periods : [];
  for (var i = 0; i < marks.length; i++) {
    var m = marks[i];
    if (m && typeof m.period === 'string') held[m.period] = m.action === 'add' ? m.kind : null;
  }
  for (var name in held) {
    if (held.hasOwnProperty(name) && held[name] === 'exclude') return true;
  }
  return false;
}
