// Every completion of a step (an entry done, or in the seed's shape, with its finish time), key
// [step, hour, minute]: hour the epoch seconds its UTC hour starts at, minute the minute in that hour;
// reduce _count. Completions per hour at group level 2, per minute at 3 (edw serve's plot of completions).
function (doc) {
  if (!Array.isArray(doc.process)) return;
  for (var i = 0; i < doc.process.length; i++) {
    var e = doc.process[i];
    if (!e || typeof e.name !== 'string' || (e.status !== undefined && e.status !== 'done') || typeof e.finished !== 'string') continue;
    var ms = Date.parse(e.finished);
    if (isNaN(ms)) continue;
    var s = Math.floor(ms / 1000);
    emit([e.name, s - s % 3600, Math.floor((s % 3600) / 60)], null);
  }
}
