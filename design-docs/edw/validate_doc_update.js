// Keeps provenance append-only and documents in shape. Every entry of the old revision's `process`
// must still be there, unchanged (a conflict merge may reorder, never drop); a re-registration with
// --replace may start `process` again only after moving the old entries, unchanged, into `previous`.
// The one change allowed to an entry: adding a `superseded` mark ({by: {...}}, on a completed entry)
// to an entry that had none, naming its step's completion of record (lib/pipeline/record.ts); a mark
// once written is never removed or changed.
function (newDoc, oldDoc, userCtx, secObj) {
  function fail(what) {
    throw({forbidden: what + ' (document ' + newDoc._id + ')'});
  }
  function same(a, b) {
    if (a === b) return true;
    if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
    if (Array.isArray(a) !== Array.isArray(b)) return false;
    var k;
    var n = 0;
    for (k in a) {
      if (a.hasOwnProperty(k)) {
        n++;
        if (!b.hasOwnProperty(k) || !same(a[k], b[k])) return false;
      }
    }
    for (k in b) {
      if (b.hasOwnProperty(k)) n--;
    }
    return n === 0;
  }
  function isObject(x) {
    return !!x && typeof x === 'object' && !Array.isArray(x);
  }
  // `newer` is `older` with a superseded mark added, and nothing else changed.
  function marked(older, newer) {
    if (!isObject(older) || !isObject(newer)) return false;
    if (older.hasOwnProperty('superseded') || !newer.hasOwnProperty('superseded')) return false;
    var rest = {};
    for (var k in newer) {
      if (newer.hasOwnProperty(k) && k !== 'superseded') rest[k] = newer[k];
    }
    return same(older, rest);
  }
  // The index of the first entry of `older` that `newer` does not keep (-1: all kept). Entries kept
  // unchanged are matched first, so that one marked since is not taken for an unchanged one.
  function keepsAll(older, newer) {
    var used = [];
    var left = [];
    var i;
    var j;
    var found;
    for (i = 0; i < older.length; i++) {
      found = false;
      for (j = 0; j < newer.length && !found; j++) {
        if (!used[j] && same(older[i], newer[j])) {
          used[j] = true;
          found = true;
        }
      }
      if (!found) left.push(i);
    }
    for (var l = 0; l < left.length; l++) {
      found = false;
      for (j = 0; j < newer.length && !found; j++) {
        if (!used[j] && marked(older[left[l]], newer[j])) {
          used[j] = true;
          found = true;
        }
      }
      if (!found) return left[l];
    }
    return -1;
  }
  if (newDoc._deleted) return;
  if (newDoc.process !== undefined) {
    if (!Array.isArray(newDoc.process)) fail('process must be an array');
    for (var i = 0; i < newDoc.process.length; i++) {
      var e = newDoc.process[i];
      if (!e || typeof e !== 'object' || Array.isArray(e)) fail('process entry ' + i + ' must be an object');
      if (typeof e.name !== 'string' || e.name === '') fail('process entry ' + i + ' needs a name');
      if (e.status !== undefined && e.status !== 'done' && e.status !== 'failed') {
        fail('process entry ' + i + ' has status ' + e.status + ', expected done or failed');
      }
      if (e.superseded !== undefined) {
        if (e.status !== 'done') fail('process entry ' + i + ' is marked superseded but is not done');
        if (!isObject(e.superseded) || !isObject(e.superseded.by)) fail('process entry ' + i + ' has superseded ' + JSON.stringify(e.superseded) + ', expected {by: {...}}');
      }
    }
    if (newDoc.status !== undefined && typeof newDoc.status !== 'string') fail('status must be a string');
    if (oldDoc && Array.isArray(oldDoc.process)) {
      var lost = keepsAll(oldDoc.process, newDoc.process);
      if (lost !== -1) {
        var prev = newDoc.previous;
        var moved = Array.isArray(prev) && prev.length > 0 && prev[prev.length - 1] &&
          Array.isArray(prev[prev.length - 1].process) && keepsAll(oldDoc.process, prev[prev.length - 1].process) === -1;
        if (!moved) fail('process is append-only: entry ' + lost + ' was changed or removed');
      }
    }
  } else if (oldDoc && oldDoc.process !== undefined) {
    fail('process cannot be removed');
  }
  // A file's period marks (edw period add/remove) and reprocessing marks (edw reprocess) are
  // append-only: the old array must be the start of the new one, unchanged.
  function prefixKept(field) {
    var before = oldDoc && oldDoc[field];
    var after = newDoc[field];
    if (after !== undefined && !Array.isArray(after)) fail(field + ' must be an array');
    if (!Array.isArray(before)) return true;
    if (!Array.isArray(after) || after.length < before.length) return false;
    for (var p = 0; p < before.length; p++) {
      if (!same(before[p], after[p])) return false;
    }
    return true;
  }
  if (!prefixKept('periods')) fail('periods is append-only: a mark was changed or removed');
  // Reprocessing marks start again only with the history they belong to (register --replace moves
  // the old process into previous).
  var restarted = Array.isArray(newDoc.previous) && newDoc.previous.length > (oldDoc && Array.isArray(oldDoc.previous) ? oldDoc.previous.length : 0);
  if (!restarted && !prefixKept('reprocess')) fail('reprocess is append-only: a mark was changed or removed');
  // A selection's versions are append-only: what it was at any time can be read back.
  if (oldDoc && oldDoc.type === 'selection' && (newDoc.type !== 'selection' || !prefixKept('versions'))) fail('a selection\'s versions are append-only');
  // A period is never deleted or changed; a removal adds `removed`, once.
  if (oldDoc && oldDoc.type === 'period') {
    if (newDoc.type !== 'period') fail('a period cannot be deleted or turned into another document');
    var rest = {};
    for (var f in newDoc) {
      if (newDoc.hasOwnProperty(f) && f !== '_rev' && f !== '_revisions' && (f !== 'removed' || oldDoc.removed)) rest[f] = newDoc[f];
    }
    var was = {};
    for (var g in oldDoc) {
      if (oldDoc.hasOwnProperty(g) && g !== '_rev' && g !== '_revisions') was[g] = oldDoc[g];
    }
    if (!same(was, rest)) fail('a period is never changed; removing it only adds "removed"');
  }
  if (newDoc.type === 'detection') {
    if (typeof newDoc.time !== 'number') fail('a detection needs a numeric time');
    if (typeof newDoc.source !== 'string') fail('a detection needs its source document id');
  }
}
