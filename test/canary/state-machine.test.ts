import { describe, expect, it } from 'vitest';
import type { CanarySpec } from '../../control-plane/api/types.js';
import { initialState, routingFor, step, type CanaryState, type CheckVerdict } from '../../control-plane/canary/state-machine.js';

const spec: CanarySpec = { service: 'orders', stable: 'v1', canary: 'v2', cohort: { header: 'x-user-id', values: ['u-1'] }, steps: [10, 50], threshold: 2, metrics: [{ name: 'success-rate', min: 99 }] };
const now = new Date('2025-01-01T00:00:00Z');
const pass: CheckVerdict = { kind: 'pass', message: 'ok' };
const fail: CheckVerdict = { kind: 'fail', message: 'success-rate 80% < 99%' };
const none: CheckVerdict = { kind: 'no-data', message: '3 requests < minRequests 20' };
const tick = (state: CanaryState, verdict?: CheckVerdict, s = spec) => step(s, state, { type: 'tick', verdict }, now).state;

describe('canary state machine', () => {
  it('walks Initializing → CohortTesting → steps → Promoting → Succeeded on passing checks', () => {
    const walk: string[] = [];
    let state = initialState(spec, now);
    for (let i = 0; i < 6; i++) {
      walk.push(`${state.phase}@${state.canaryWeight}`);
      state = tick(state, pass);
    }
    expect(walk).toEqual(['Initializing@0', 'CohortTesting@0', 'Progressing@10', 'Progressing@50', 'Promoting@100', 'Succeeded@100']);
    expect(tick(state, fail)).toBe(state);
  });

  it('skips cohort testing without a cohort', () => {
    const noCohort = { ...spec, cohort: undefined };
    expect(tick(initialState(noCohort, now), undefined, noCohort)).toMatchObject({ phase: 'Progressing', canaryWeight: 10 });
  });

  it('rolls back after threshold failed checks, counting no data as failed, then fails', () => {
    let state = tick(tick(initialState(spec, now)), pass);
    const once = step(spec, state, { type: 'tick', verdict: none }, now);
    expect(once.check).toBe('no-data');
    expect(once.state).toMatchObject({ phase: 'Progressing', failedChecks: 1, canaryWeight: 10 });
    expect(once.state.message).toMatch(/no data/);
    state = tick(once.state, fail);
    expect(state).toMatchObject({ phase: 'RollingBack', failedChecks: 2, canaryWeight: 0 });
    state = tick(state);
    expect(state.phase).toBe('Failed');
    expect(routingFor(spec, state)).toEqual({ kind: 'stable' });
  });

  it('an analysing tick without a verdict changes nothing', () => {
    const state = tick(initialState(spec, now));
    expect(tick(state, undefined)).toBe(state);
  });

  it('pause freezes routing, resume returns to the phase paused from; refusals say why', () => {
    const progressing = tick(tick(tick(initialState(spec, now)), pass), pass);
    const paused = step(spec, progressing, { type: 'pause' }, now).state;
    expect(paused).toMatchObject({ phase: 'Paused', pausedFrom: 'Progressing', canaryWeight: 50 });
    expect(routingFor(spec, paused)).toEqual(routingFor(spec, progressing));
    expect(tick(paused, fail)).toBe(paused);
    expect(step(spec, paused, { type: 'pause' }, now).refused).toMatch(/cannot pause a canary that is Paused/);
    const resumed = step(spec, paused, { type: 'resume' }, now).state;
    expect(resumed).toMatchObject({ phase: 'Progressing', canaryWeight: 50 });
    expect(resumed.pausedFrom).toBeUndefined();
    expect(step(spec, resumed, { type: 'resume' }, now).refused).toBeDefined();
  });

  it('promote and abort jump to Promoting / RollingBack, and are refused once finished', () => {
    const progressing = tick(tick(initialState(spec, now)), pass);
    expect(step(spec, progressing, { type: 'promote' }, now).state).toMatchObject({ phase: 'Promoting', canaryWeight: 100 });
    const aborted = step(spec, progressing, { type: 'abort' }, now);
    expect(aborted.transition).toMatchObject({ from: 'Progressing', to: 'RollingBack' });
    const failed = tick(aborted.state);
    expect(step(spec, failed, { type: 'promote' }, now).refused).toMatch(/Failed/);
    expect(step(spec, failed, { type: 'abort' }, now).refused).toMatch(/Failed/);
  });

  it('routes: cohort first during cohort testing and the steps, the split at the step weight', () => {
    const cohort = tick(initialState(spec, now));
    expect(routingFor(spec, cohort)).toEqual({ kind: 'split', weight: 0, cohort: true });
    expect(routingFor(spec, tick(cohort, pass))).toEqual({ kind: 'split', weight: 10, cohort: true });
    expect(routingFor(spec, initialState(spec, now))).toEqual({ kind: 'stable' });
  });
});
