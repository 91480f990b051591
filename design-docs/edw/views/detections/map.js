// Detection documents keyed by time (epoch seconds), value the amplitude.
function (doc) {
  if (doc.type === 'detection' && typeof doc.time === 'number') {
    emit(doc.time, doc.amplitude);
  }
}
