// Documents a listener holds right now: key the claimed step, value the lease's end (epoch ms).
function (doc) {
  if (doc.edw && doc.edw.claim && typeof doc.edw.claim.step === 'string') {
    emit(doc.edw.claim.step, doc.edw.claim.expires);
  }
}
