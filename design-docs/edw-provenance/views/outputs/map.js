// Every file a data-file document knows of, keyed by path: its original file (value -1) and each
// output a completed entry recorded (value the entry's index in `process`). `edw lineage PATH` starts here.
function (doc) {
  if (!Array.isArray(doc.process)) return;
  if (typeof doc.original_file === 'string') emit(doc.original_file, -1);
  for (var i = 0; i < doc.process.length; i++) {
    var e = doc.process[i];
    var outputs = e && e.result && Array.isArray(e.result.outputs) ? e.result.outputs : [];
    for (var j = 0; j < outputs.length; j++) {
      if (outputs[j] && typeof outputs[j].path === 'string') emit(outputs[j].path, i);
    }
    if (e && typeof e.file === 'string') emit(e.file, i);
  }
}
