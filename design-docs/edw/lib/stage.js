// The stage of a data-file document: the name of its last completed process entry, 'new' when none.
// An entry written by edw is completed when its status is 'done'; an entry in the seed's shape (no
// status) counts as completed. Inlined into functions by the `// !code lib/stage.js` line.
function edwStage(doc) {
  var p = doc.process;
  for (var i = p.length - 1; i >= 0; i--) {
    var e = p[i];
    if (e && typeof e === 'object' && typeof e.name === 'string' && (e.status === undefined || e.status === 'done')) {
      return e.name;
    }
  }
  return 'new';
}
