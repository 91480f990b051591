export {StepListener, type ListenerOptions} from './listener.js';
export type {ListenerState, StepEvent} from './events.js';
export {deleteOldHeartbeats, Heartbeat, heartbeatId, heartbeatState, type HeartbeatDoc, type HeartbeatOptions, type HeartbeatState} from './heartbeat.js';
export {Runner, type Progress, type RunnerOptions, type RunSummary, type StepCounts} from './runner.js';
export {updateDocument, type UpdateOptions} from './update.js';
export {ClaimLostError} from './claim.js';
export type {ChainStep, Step, StepContext} from './step.js';
export {resolveConflicts} from './conflicts.js';
export {Reachability, type ReachabilityOptions} from './reachability.js';
