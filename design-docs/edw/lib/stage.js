// The stage of a data-file document: the name of its last completion of record of the current epoch;
// when there is none, the stage its last reprocessing starts from, or 'new'. An entry written by edw
// is completed when its status is 'done'; an entry in the seed's shape (no status) counts as
// completed; an entry marked `superseded` (a re-execution of a step and version that another
// completion is the record of, lib/pipeline/record.ts) does not count. The epoch is the number of
// reprocessing marks (`edw reprocess`); an entry's is its `epoch` (absent: 0). Same rule as stageOf in
// lib/pipeline/document.ts. Inlined into functions by the `// !code lib/stage.js` line.
function edwStage(doc) {
  var p = doc.process;
  var marks = Array.isArray(doc.reprocess) ? doc.reprocess : [];
  var epoch = marks.length;
  for (var i = p.length - 1; i >= 0; i--) {
    var e = p[i];
    if (e && typeof e === 'object' && typeof e.name === 'string' && (e.status === undefined || e.status === 'done') && !e.superseded &&
        (typeof e.epoch === 'number' ? e.epoch : 0) === epoch) {
      return e.name;
    }
  }
  return epoch > 0 && marks[epoch - 1] && typeof marks[epoch - 1].after === 'string' ? marks[epoch - 1].after : 'new';
}
