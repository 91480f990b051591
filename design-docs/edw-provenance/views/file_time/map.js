// Data-file documents keyed by their time (epoch seconds: the file's modification time when registered,
// else its registration time), value the run: the files a period's time range covers.
function (doc) {
  if (!Array.isArray(doc.process)) return;
  var time = typeof doc.file_mtime === 'number' ? doc.file_mtime : doc.datecreated;
  if (typeof time === 'number') emit(time, doc.run || null);
}
