import {hostname} from 'node:os';
import {EdwError} from '../errors/index.js';
import {epochOf, markSuperseded, withoutMark, type Claim, type DataFileDoc, type ProcessEntry} from '../pipeline/index.js';
import {backoffDelay} from './backoff.js';
import type {StepOutcome} from './execute.js';

/** The document no longer holds this listener's claim token: another listener took it over. */
export class ClaimLostError extends EdwError {
  override name = 'ClaimLostError';
}

/** What a new claim says: the step and version it is for, who holds it, and for how long from `now`. */
export interface ClaimSpec {
  step: string;
  version: string;
  owner: string;
  host: string;
  pid: number;
  leaseMs: number;
  now: number;
}

/** A claim of `step` by `owner` (this process), starting `now`. */
export function claimSpec(step: {name: string; version: string}, owner: string, leaseMs: number, now: number): ClaimSpec {
  return {step: step.name, version: step.version, owner, host: hostname(), pid: process.pid, leaseMs, now};
}

/** The document with a new claim: a fresh fencing token (one more than any before) and a lease end. */
export function withClaim(doc: DataFileDoc, spec: ClaimSpec): {doc: DataFileDoc; claim: Claim} {
  const edw = {...doc.edw};
  const token = Math.max(edw.token ?? 0, edw.claim?.token ?? 0) + 1;
  const claim: Claim = {
    step: spec.step, version: spec.version, owner: spec.owner, host: spec.host, pid: spec.pid,
    token, expires: spec.now + spec.leaseMs, since: new Date(spec.now).toISOString(),
    // The entry is of the epoch the claim was taken in: a reprocessing asked for while this step runs
    // does not count it as the new run.
    ...(epochOf(doc) > 0 ? {epoch: epochOf(doc)} : {}),
  };
  return {doc: {...doc, edw: {...edw, token, claim}}, claim};
}

function holding(doc: DataFileDoc | null, token: number, owner: string): DataFileDoc {
  if (!doc) throw new ClaimLostError(`the document was deleted while claim ${token} was held`);
  if (doc.edw?.claim?.token !== token || doc.edw.claim.owner !== owner) {
    throw new ClaimLostError(`document ${doc._id} no longer holds claim ${token} of ${owner} (now ${doc.edw?.claim ? `claim ${doc.edw.claim.token} of ${doc.edw.claim.owner}` : 'unclaimed'})`);
  }
  return doc;
}

/** The document with its lease extended, if it still holds the token. */
export function withRenewedClaim(doc: DataFileDoc | null, token: number, owner: string, expires: number): DataFileDoc {
  doc = holding(doc, token, owner);
  return {...doc, edw: {...doc.edw, claim: {...doc.edw!.claim!, expires}}};
}

/** The document with the claim dropped and nothing recorded (work given back, e.g. on shutdown). */
export function withoutClaim(doc: DataFileDoc | null, token: number, owner: string): DataFileDoc {
  doc = holding(doc, token, owner);
  const {claim: _dropped, ...edw} = doc.edw!;
  return {...doc, edw};
}

export type Outcome =
  | {kind: 'done'}
  | {kind: 'retry'; next: number; attempts: number}
  | {kind: 'failed'; attempts: number};

export interface RetryPolicy {
  /** Tries a step gets before its document fails for good. */
  attempts: number;
  /** Epoch ms. */
  now: number;
  backoffMs: number;
  maxBackoffMs: number;
}

/** What an attempt's outcome means for the document: done, a retry at a later time, or failed for good. */
export function outcomeOf(outcome: StepOutcome, attempt: number, policy: RetryPolicy): Outcome {
  const next = policy.now + backoffDelay(attempt, policy.backoffMs, policy.maxBackoffMs);
  if (outcome.entry.status === 'done') return {kind: 'done'};
  // The database, not the step, failed: recorded, tried again, but not counted against `attempts`
  // (an outage must not fail files for good; the runtime's own calls wait it out the same way).
  if (outcome.databaseUnreachable) return {kind: 'retry', attempts: attempt - 1, next};
  if (outcome.retryable && attempt < policy.attempts) return {kind: 'retry', attempts: attempt, next};
  return {kind: 'failed', attempts: attempt};
}

/** The entry as withEntry records it: stamped with the claim's fencing token, which identifies the attempt. */
function stamped(entry: ProcessEntry, token: number): ProcessEntry {
  return {...entry, token};
}

/**
 * Whether this very entry (same step, attempt, host, times and claim token) is already in the
 * document's history, as withEntry recorded it; a superseded mark added since does not make it another.
 */
export function hasEntry(doc: DataFileDoc | null, entry: ProcessEntry, token: number): boolean {
  if (!doc || !Array.isArray(doc.process)) return false;
  const wanted = JSON.stringify(stamped(entry, token));
  // The written entry also carries its claim's epoch (withEntry), which `entry` does not have.
  return doc.process.some((e) => {
    const {epoch: _epoch, ...written} = withoutMark(e);
    return JSON.stringify(written) === wanted;
  });
}

/**
 * The document with the step's entry (stamped with `token`) appended and the claim released, only if
 * it still holds the token (a result written under a stale token is refused). Nothing already in
 * `process` changes, except that a completion which is not its step and version's completion of
 * record gets marked as superseded (markSuperseded): any write that meets two completions marks them.
 */
export function withEntry(doc: DataFileDoc | null, token: number, owner: string, entry: ProcessEntry, outcome: Outcome): DataFileDoc {
  doc = holding(doc, token, owner);
  const {claim, retry: _retry, failed: _failed, ...edw} = doc.edw!;
  if (claim?.epoch) entry = {...entry, epoch: claim.epoch};
  const message = entry.error?.message ?? '';
  const state =
    outcome.kind === 'retry'
      ? {retry: {step: entry.name, version: entry.version ?? '', attempts: outcome.attempts, next: outcome.next, error: message}}
      : outcome.kind === 'failed'
        ? {failed: {step: entry.name, version: entry.version ?? '', attempts: outcome.attempts, error: message, at: entry.finished ?? ''}}
        : {};
  return {...doc, process: markSuperseded([...doc.process, stamped(entry, token)]), edw: {...edw, ...state}};
}
