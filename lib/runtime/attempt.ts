import type {Logger} from '../log/index.js';
import {isDataFile, readiness, type DataFileDoc, type ProcessEntry} from '../pipeline/index.js';
import type {Doc, Store} from '../store/index.js';
import {claimSpec, hasEntry, outcomeOf, withClaim, withEntry, type ClaimSpec, type Outcome} from './claim.js';
import {resolveConflicts} from './conflicts.js';
import {executeStep} from './execute.js';
import type {LeaseKeeper} from './lease-keeper.js';
import type {Reachability} from './reachability.js';
import {giveBack, recordUnderClaim} from './record.js';
import type {ChainStep} from './step.js';
import type {Job} from './step-queue.js';
import {updateDocument, type Write} from './update.js';

/** What every attempt of one step in this process shares. */
export interface AttemptContext {
  store: Store;
  step: ChainStep;
  /** The step's logger; each attempt's lines also name the document. */
  log: Logger;
  /** This process's identity in claims. */
  owner: string;
  /** How long a claim holds the document. */
  leaseMs: number;
  /** First delay before a retry of a step that failed with an error that may pass, doubled per attempt. */
  backoffMs: number;
  /** Cap on that delay. */
  maxBackoffMs: number;
  /** Milliseconds since the epoch. */
  now: () => number;
  /** Claims and results go out through it (the process's WriteBatcher). */
  write: Write;
  /** Renews the claim while the step runs. */
  leases: LeaseKeeper;
  /** Database calls that outlast outages. */
  reach: Reachability;
  /** The soft stop: no new claims, a hand-over is given back. */
  stopping: AbortSignal;
  /** The hard stop: running steps and result writes are cut short, their documents given back. */
  aborting: AbortSignal;
  /** Runs a job's claim and step in one of the step's slots (StepQueue.slot); the result is written outside it. */
  slot: <T>(work: () => Promise<T>) => Promise<T>;
}

/** The claim of the next step that a result write may take too (see Router.reserveNext). */
export interface NextClaim {
  /** The next step (its readiness decides whether the written document may be claimed for it). */
  step: ChainStep;
  /** Its claim, starting now. */
  spec(): ClaimSpec;
}

export interface AttemptHooks {
  /** The document is claimed and the step starts. */
  started(): void;
  /** Asked once the step is done, before its result is written: the next step's claim to write with it, if any. */
  handOff(id: string): NextClaim | undefined;
}

/** What one attempt came to. */
export type AttemptOutcome =
  /** Nothing claimed: stopping, merged into something else, or not ready (`latest`: the document as last seen). */
  | {kind: 'skipped'; id: string; latest?: Doc}
  /** Cut short by a stop: the claim was given back (or left to expire), nothing recorded. */
  | {kind: 'stopped'; id: string}
  /** Another listener holds the claim now: the result was dropped. */
  | {kind: 'lost'; id: string}
  /**
   * The entry is recorded (`doc`: the document written; null when an earlier try's write had already
   * recorded it); `handed`: the claim the same write took for the next step.
   */
  | {kind: 'recorded'; id: string; attempt: number; entry: ProcessEntry; result: Outcome; doc: DataFileDoc | null; handed?: {token: number; attempt: number}};

/** A step that ran to its end under a claim, its result not written yet. */
interface Ran {
  kind: 'ran';
  id: string;
  token: number;
  attempt: number;
  entry: ProcessEntry;
  result: Outcome;
  /** The latest revision written under the claim (the claim or a renewal): the base of the result write. */
  base: DataFileDoc;
}

/**
 * One attempt of a step on one document: claim it (unless the job holds a hand-over's claim), run
 * the step while the lease keeper renews the claim, and record the result under the claim's token.
 * The claim and the step hold one of the step's slots; the result write does not (on CouchDB it is
 * a round trip of tens of milliseconds, shared with other writes). Every failure of the step is
 * recorded on the document; a database error that outlasts the attempt's own retries is thrown.
 */
export async function runAttempt(ctx: AttemptContext, job: Job, hooks: AttemptHooks): Promise<AttemptOutcome> {
  const log = ctx.log.child({docId: job.doc._id});
  const ran = await ctx.slot(async (): Promise<AttemptOutcome | Ran> => {
    if (job.held) {
      if (ctx.stopping.aborted) {
        await giveBack(ctx, job.doc._id, job.held.token, log);
        return {kind: 'stopped', id: job.doc._id};
      }
      // It waited in the queue past its lease: claim it afresh (another listener may have taken it).
      if ((job.doc.edw?.claim?.expires ?? 0) > ctx.now()) return runHeld(ctx, job.doc, job.held, log, hooks);
    }
    return claimAndRun(ctx, job.doc, log, hooks);
  });
  return ran.kind === 'ran' ? recordRan(ctx, ran, log, hooks) : ran;
}

/** Claim with the revision in hand (a conflict means someone else moved first: read again and re-decide), then run. */
async function claimAndRun(ctx: AttemptContext, seen: DataFileDoc, log: Logger, hooks: AttemptHooks): Promise<AttemptOutcome | Ran> {
  const id = seen._id;
  if (ctx.stopping.aborted) return {kind: 'skipped', id};
  if (seen._conflicts?.length) {
    const merged = await ctx.reach.call('resolve conflicts', () => resolveConflicts(ctx.store, id), ctx.stopping);
    log.info('conflicts resolved', {revisions: seen._conflicts.length + 1});
    if (merged === undefined || !isDataFile(merged)) return {kind: 'skipped', id};
    seen = merged;
  }
  let claimed: {token: number; attempt: number} | undefined;
  let last: Doc | null = seen;
  const written = await ctx.reach.call('claim a document', () => updateDocument(ctx.store, id, (doc) => {
    last = doc;
    claimed = undefined;
    const ready = readiness(doc, ctx.step, ctx.now(), ctx.owner);
    if (ready.kind !== 'run') return null;
    const {doc: next, claim} = withClaim(doc as DataFileDoc, claimSpec(ctx.step, ctx.owner, ctx.leaseMs, ctx.now()));
    claimed = {token: claim.token, attempt: ready.attempt};
    return next;
  }, {current: seen, write: ctx.write}), ctx.stopping);
  if (!written || !claimed) return {kind: 'skipped', id, latest: last ?? {_id: id}};
  return runHeld(ctx, written as DataFileDoc, claimed, log, hooks);
}

/** Run the step on a document this process holds claim `held.token` on. */
async function runHeld(ctx: AttemptContext, claimedDoc: DataFileDoc, held: {token: number; attempt: number}, log: Logger, hooks: AttemptHooks): Promise<AttemptOutcome | Ran> {
  const id = claimedDoc._id;
  const {token, attempt} = held;
  hooks.started();
  // Per document: an operator follows the process through the listen command's summaries instead.
  log.verbose('step started', {attempt});
  const lease = ctx.leases.hold(claimedDoc, token);
  let outcome;
  try {
    outcome = await executeStep({step: ctx.step, doc: claimedDoc, attempt, store: ctx.store, log, signals: [ctx.aborting, lease.signal]});
  } finally {
    lease.release();
  }
  if (outcome.interrupted === 'claim-lost') {
    log.warn('claim lost, result dropped', {attempt});
    return {kind: 'lost', id};
  }
  if (outcome.interrupted === 'stopped') {
    await giveBack(ctx, id, token, log);
    return {kind: 'stopped', id};
  }
  const {entry} = outcome;
  const result = outcomeOf(outcome, attempt, {attempts: ctx.step.attempts, now: ctx.now(), backoffMs: ctx.backoffMs, maxBackoffMs: ctx.maxBackoffMs});
  return {kind: 'ran', id, token, attempt, entry, result, base: lease.doc};
}

/** Record what the step came to, under the claim's token, with the next step's claim when the router asks for one. */
async function recordRan(ctx: AttemptContext, ran: Ran, log: Logger, hooks: AttemptHooks): Promise<AttemptOutcome> {
  const {id, token, attempt, entry, result} = ran;
  // Done, and the next step runs in this process with room to start it: the same write claims it for that step.
  const next = result.kind === 'done' ? hooks.handOff(id) : undefined;
  let handed: {token: number; attempt: number} | undefined;
  // The base is the latest revision written under the claim (the claim or a renewal): no read first.
  const recorded = await recordUnderClaim(ctx, id, ran.base, log, (doc) => {
    handed = undefined;
    if (hasEntry(doc, entry, token)) return null;
    const after = withEntry(doc, token, ctx.owner, entry, result);
    const ready = next ? readiness(after, next.step, ctx.now(), ctx.owner) : undefined;
    if (!next || ready?.kind !== 'run') return after;
    const claimed = withClaim(after, next.spec());
    handed = {token: claimed.claim.token, attempt: ready.attempt};
    return claimed.doc;
  });
  if (recorded === 'lost' || recorded === 'stopped') return {kind: recorded, id};
  return {kind: 'recorded', id, attempt, entry, result, doc: recorded.doc, ...(handed && recorded.doc ? {handed} : {})};
}
