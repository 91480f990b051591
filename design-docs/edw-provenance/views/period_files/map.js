// Data-file documents by the periods they were ever marked in (key the period's name), value whether the
// period holds for the file now (its latest mark is an `add`).
function (doc) {
  if (!Array.isArray(doc.process) || !Array.isArray(doc.periods)) return;
  var held = {};
  for (var i = 0; i < doc.periods.length; i++) {
    var m = doc.periods[i];
    if (m && typeof m.period === 'string') held[m.period] = m.action === 'add';
  }
  for (var name in held) {
    if (held.hasOwnProperty(name)) emit(name, held[name]);
  }
}
