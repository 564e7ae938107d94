/**
 * The canary state machine, pure: given a Canary's spec, its state and an
 * event (an interval's check verdict, or an operator's command), the next
 * state. docs/canary.md draws it.
 *
 *   Initializing → CohortTesting → Progressing (steps…) → Promoting → Succeeded
 *        any analysing phase ── threshold failed checks ──→ RollingBack → Failed
 *
 * Failed checks accumulate over the whole analysis (as Flagger's do); an
 * interval without enough traffic ("no data") halts advancement and counts as
 * a failed check, so a canary nobody can observe is never promoted.
 */
import type { CanaryPhase, CanarySpec } from '../api/types.js';
import { parseDuration } from '../lib/duration.js';

export interface CanaryState {
  readonly phase: CanaryPhase;
  /** Percent of (non-cohort) traffic on the canary version. */
  readonly canaryWeight: number;
  /** Index into spec.steps while Progressing; 0 before. */
  readonly stepIndex: number;
  readonly failedChecks: number;
  /** The spec.canary this analysis is about; a different one restarts it. */
  readonly canaryVersion: string;
  readonly lastTransitionTime: string;
  readonly message: string;
  /** While Paused: the phase `resume` returns to. */
  readonly pausedFrom?: CanaryPhase;
  /** The last command given by annotation, acknowledged (command-annotation.ts); kept across versions so it acts once. */
  readonly lastCommand?: AcknowledgedCommand;
  /** Set once `spec.finish` was carried out after success (kubernetes-finish.ts). */
  readonly finished?: { readonly time: string; readonly message: string };
}

export interface AcknowledgedCommand {
  readonly command: string;
  readonly id: string;
  readonly result: 'Applied' | 'Refused';
  readonly message: string;
  readonly time: string;
}

export type CheckVerdict =
  | { readonly kind: 'pass'; readonly message: string }
  | { readonly kind: 'fail'; readonly message: string }
  | { readonly kind: 'no-data'; readonly message: string };

export type CanaryCommand = 'promote' | 'abort' | 'pause' | 'resume';

export type CanaryEvent = { readonly type: 'tick'; readonly verdict?: CheckVerdict } | { readonly type: CanaryCommand };

export interface StepResult {
  readonly state: CanaryState;
  /** Set when the phase or weight changed. */
  readonly transition?: { readonly from: CanaryPhase; readonly to: CanaryPhase; readonly reason: string };
  /** Set when the event carried a check verdict that counted. */
  readonly check?: 'passed' | 'failed' | 'no-data';
  /** A command that does not apply in this phase, with why. */
  readonly refused?: string;
}

export const terminalPhases: ReadonlySet<CanaryPhase> = new Set(['Succeeded', 'Failed']);
export const analysingPhases: ReadonlySet<CanaryPhase> = new Set(['CohortTesting', 'Progressing']);
export const allPhases: readonly CanaryPhase[] = ['Initializing', 'CohortTesting', 'Progressing', 'Promoting', 'Succeeded', 'RollingBack', 'Failed', 'Paused'];

export function intervalMs(spec: CanarySpec): number {
  return parseDuration(spec.interval ?? '1m') ?? 60_000;
}

export function thresholdOf(spec: CanarySpec): number {
  return spec.threshold ?? 5;
}

export function initialState(spec: CanarySpec, now: Date): CanaryState {
  return { phase: 'Initializing', canaryWeight: 0, stepIndex: 0, failedChecks: 0, canaryVersion: spec.canary, lastTransitionTime: now.toISOString(), message: `analysis of version ${spec.canary} starting` };
}

function move(state: CanaryState, to: CanaryPhase, changes: Partial<CanaryState>, reason: string, now: Date): StepResult {
  const next: CanaryState = { ...state, ...changes, phase: to, message: reason, lastTransitionTime: now.toISOString() };
  if (to !== 'Paused') delete (next as { pausedFrom?: CanaryPhase }).pausedFrom;
  return { state: next, transition: { from: state.phase, to, reason } };
}

function firstStep(spec: CanarySpec, state: CanaryState, reason: string, now: Date): StepResult {
  return move(state, 'Progressing', { stepIndex: 0, canaryWeight: spec.steps[0]! }, `${reason}; canary weight ${spec.steps[0]}% (step 1/${spec.steps.length})`, now);
}

export function step(spec: CanarySpec, state: CanaryState, event: CanaryEvent, now: Date): StepResult {
  switch (event.type) {
    case 'tick':
      return tick(spec, state, event.verdict, now);
    case 'promote':
      if (terminalPhases.has(state.phase) || state.phase === 'Promoting' || state.phase === 'RollingBack') return { state, refused: `cannot promote a canary that is ${state.phase}` };
      return move(state, 'Promoting', { canaryWeight: 100 }, 'promoted by an operator', now);
    case 'abort':
      if (terminalPhases.has(state.phase) || state.phase === 'RollingBack') return { state, refused: `cannot abort a canary that is ${state.phase}` };
      return move(state, 'RollingBack', { canaryWeight: 0 }, 'aborted by an operator', now);
    case 'pause':
      if (!analysingPhases.has(state.phase) && state.phase !== 'Initializing') return { state, refused: `cannot pause a canary that is ${state.phase}` };
      return { ...move(state, 'Paused', { pausedFrom: state.phase }, `paused by an operator at ${state.canaryWeight}%`, now) };
    case 'resume': {
      if (state.phase !== 'Paused') return { state, refused: `cannot resume a canary that is ${state.phase} (not Paused)` };
      const to = state.pausedFrom ?? (state.canaryWeight > 0 ? 'Progressing' : spec.cohort ? 'CohortTesting' : 'Initializing');
      return move(state, to, {}, `resumed by an operator at ${state.canaryWeight}%`, now);
    }
  }
}

function tick(spec: CanarySpec, state: CanaryState, verdict: CheckVerdict | undefined, now: Date): StepResult {
  switch (state.phase) {
    case 'Initializing':
      if (spec.cohort) return move(state, 'CohortTesting', { canaryWeight: 0, stepIndex: 0 }, 'cohort testing: only cohort users reach the canary', now);
      return firstStep(spec, state, 'analysis started', now);
    case 'Promoting':
      return move(state, 'Succeeded', { canaryWeight: 100 }, `version ${spec.canary} promoted: all traffic on it`, now);
    case 'RollingBack':
      return move(state, 'Failed', { canaryWeight: 0 }, `rolled back: all traffic on ${spec.stable}${state.message ? ` (${state.message})` : ''}`, now);
    case 'CohortTesting':
    case 'Progressing': {
      if (!verdict) return { state };
      if (verdict.kind === 'pass') {
        const result = advance(spec, state, verdict.message, now);
        return { ...result, check: 'passed' };
      }
      const failedChecks = state.failedChecks + 1;
      const threshold = thresholdOf(spec);
      const what = verdict.kind === 'no-data' ? `no data: ${verdict.message}` : verdict.message;
      if (failedChecks >= threshold) {
        return { ...move(state, 'RollingBack', { failedChecks, canaryWeight: 0 }, `${failedChecks}/${threshold} checks failed, rolling back; last: ${what}`, now), check: verdict.kind === 'no-data' ? 'no-data' : 'failed' };
      }
      return { state: { ...state, failedChecks, message: `check failed (${failedChecks}/${threshold}): ${what}` }, check: verdict.kind === 'no-data' ? 'no-data' : 'failed' };
    }
    default:
      return { state };
  }
}

function advance(spec: CanarySpec, state: CanaryState, passed: string, now: Date): StepResult {
  if (state.phase === 'CohortTesting') return firstStep(spec, state, `cohort checks passed (${passed})`, now);
  const next = state.stepIndex + 1;
  if (next < spec.steps.length) {
    return move(state, 'Progressing', { stepIndex: next, canaryWeight: spec.steps[next]! }, `checks passed (${passed}); canary weight ${spec.steps[next]}% (step ${next + 1}/${spec.steps.length})`, now);
  }
  return move(state, 'Promoting', { canaryWeight: 100 }, `all ${spec.steps.length} steps passed (${passed}); promoting`, now);
}

/** Where traffic goes in a state. */
export type Routing =
  | { readonly kind: 'stable' }
  | { readonly kind: 'canary' }
  /** Cohort users to the canary, everyone else split `weight`% canary. */
  | { readonly kind: 'split'; readonly weight: number; readonly cohort: boolean };

export function routingFor(spec: CanarySpec, state: CanaryState): Routing {
  const phase = state.phase === 'Paused' ? (state.pausedFrom ?? 'Progressing') : state.phase;
  switch (phase) {
    case 'Initializing':
    case 'RollingBack':
    case 'Failed':
      return { kind: 'stable' };
    case 'Promoting':
    case 'Succeeded':
      return { kind: 'canary' };
    case 'CohortTesting':
      return { kind: 'split', weight: 0, cohort: true };
    default:
      // Cohort users stay on the canary while the weight climbs, so they never flip back and forth.
      return { kind: 'split', weight: state.canaryWeight, cohort: Boolean(spec.cohort) };
  }
}
