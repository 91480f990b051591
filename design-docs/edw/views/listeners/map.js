// Listener processes' heartbeat documents, keyed by their owner id; value the last beat (epoch ms).
function (doc) {
  if (doc.type === 'listener' && typeof doc.owner === 'string') {
    emit(doc.owner, doc.beat_ms);
  }
}
