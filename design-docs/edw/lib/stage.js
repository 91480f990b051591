// The stage of a data-file document: the name of its last completion of record, 'new' when none.
// An entry written by edw is completed when its status is 'done'; an entry in the seed's shape (no
// status) counts as completed; an entry marked `superseded` (a re-execution of a step and version that
// another completion is the record of, lib/pipeline/record.ts) does not count. Same rule as stageOf in
// lib/pipeline/document.ts. Inlined into functions by the `// !code lib/stage.js` line.
function edwStage(doc) {
  var p = doc.process;
  for (var i = p.length - 1; i >= 0; i--) {
    var e = p[i];
    if (e && typeof e === 'object' && typeof e.name === 'string' && (e.status === undefined || e.status === 'done') && !e.superseded) {
      return e.name;
    }
  }
  return 'new';
}
