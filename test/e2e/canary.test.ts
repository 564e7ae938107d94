/**
 * End to end: canaries driven by live telemetry from real @grpc/grpc-js-xds
 * clients (LRS), against test backends v1 and v2 on 127.0.0.1. Traffic
 * shares are measured at the clients.
 */
import { register } from '@grpc/grpc-js-xds';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CanaryStateFile } from '../../control-plane/canary/state-file.js';
import { startControlPlane } from '../support/control-plane.js';
import { echoCanary, echoServiceManifests, echoStablePolicy, startEchoBackend, tally, xdsEchoClient, type EchoBackend, type EchoCanaryOptions } from '../support/echo-backend.js';

register();

const target = 'echo.shop.svc.cluster.local:9090';

function mesh(v1: EchoBackend, v2: EchoBackend): string {
  return `${echoServiceManifests([v1, v2])}---
${echoStablePolicy}`;
}

const canary = (options: EchoCanaryOptions = {}) => echoCanary({ metrics: '    - { name: success-rate, min: 95, source: lrs, minRequests: 10 }', ...options });

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Steady load from a proxyless client: cohort and non-cohort calls, tallied per version. */
function steadyLoad(xdsAddress: string, id: string) {
  const client = xdsEchoClient(target, xdsAddress, { id, metadata: { namespace: 'shop', mode: 'proxyless' } });
  let running = true;
  let counts: Record<string, number> = {};
  const loop = async (headers: Record<string, string>) => {
    while (running) {
      const answer = await client.whoami(headers, 2000).catch((e: { code?: number }) => `error:${e.code ?? '?'}`);
      counts[answer] = (counts[answer] ?? 0) + 1;
      await new Promise((r) => setTimeout(r, 2));
    }
  };
  const loops = [loop({}), loop({}), loop({ 'x-user-id': 'u-1' }), loop({ 'x-user-id': 'u-9' })];
  return {
    client,
    /** Counts since the last call. */
    take() {
      const taken = counts;
      counts = {};
      return taken;
    },
    async stop() {
      running = false;
      await Promise.all(loops);
      client.close();
    },
  };
}

async function setup(files: Record<string, string>, v2Behaviour = {}, options: Parameters<typeof startControlPlane>[1] = {}) {
  const v1 = await startEchoBackend('v1');
  const v2 = await startEchoBackend('v2', v2Behaviour);
  cleanups.push(() => v1.stop(), () => v2.stop());
  const running = await startControlPlane({ 'mesh.yaml': mesh(v1, v2), ...files }, { telemetry: { slotMs: 100, lrsReportIntervalMs: 150 }, ...options });
  cleanups.push(() => running.stop());
  return { v1, v2, running };
}

type View = { phase: string; canaryWeight: number; stepIndex: number; failedChecks: number; message: string };
const view = async (running: Awaited<ReturnType<typeof startControlPlane>>) => (await running.admin('/api/v1/canaries/shop/echo')).json() as View;

async function waitForPhase(running: Awaited<ReturnType<typeof startControlPlane>>, phases: string[], timeoutMs: number, seen?: string[]): Promise<View> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const current = await view(running);
    if (seen && seen[seen.length - 1] !== `${current.phase}@${current.canaryWeight}`) seen.push(`${current.phase}@${current.canaryWeight}`);
    if (phases.includes(current.phase)) return current;
    if (Date.now() > deadline) throw new Error(`canary still ${current.phase} (${current.message}) after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('canary releases driven by proxyless clients\' LRS reports', () => {
  it('a healthy v2 walks cohort → steps → promoted, and client traffic follows each step', async () => {
    const { running } = await setup({ 'canary.yaml': canary({ steps: [30, 60], interval: '900ms' }) });
    const load = steadyLoad(running.xdsAddress, 'client-healthy');
    cleanups.push(() => load.stop());
    const seen: string[] = [];
    // Per phase: what the clients observed while the control plane said so.
    const observed: Record<string, Record<string, number>> = {};
    const deadline = Date.now() + 25_000;
    let last = '';
    for (;;) {
      const current = await view(running);
      const key = `${current.phase}@${current.canaryWeight}`;
      if (key !== last) {
        seen.push(key);
        last = key;
        // Let proxies converge, then measure a quiet sample at this step with a fresh client-side tally.
        await new Promise((r) => setTimeout(r, 150));
        load.take();
      }
      if (current.phase === 'Succeeded' || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 200));
      const sample = load.take();
      const bucket = (observed[key] ??= {});
      for (const [answer, count] of Object.entries(sample)) bucket[answer] = (bucket[answer] ?? 0) + count;
    }
    expect(seen).toContain('CohortTesting@0');
    expect(seen).toContain('Progressing@30');
    expect(seen).toContain('Progressing@60');
    expect(seen[seen.length - 1]).toBe('Succeeded@100');
    // The order of the walk.
    const order = ['CohortTesting@0', 'Progressing@30', 'Progressing@60', 'Succeeded@100'].map((k) => seen.indexOf(k));
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    // Non-cohort calls are 3 of the 4 loops; cohort user u-1 always reaches v2 once cohort testing starts.
    const share = (k: string) => {
      const o = observed[k] ?? {};
      return (o.v2 ?? 0) / ((o.v1 ?? 0) + (o.v2 ?? 0));
    };
    // Cohort testing: only u-1's loop (1 of 4) reaches v2.
    expect(share('CohortTesting@0')).toBeGreaterThan(0.1);
    expect(share('CohortTesting@0')).toBeLessThan(0.4);
    // At 30%: 1/4 + 3/4·0.3 ≈ 0.475; at 60%: 1/4 + 3/4·0.6 = 0.7.
    expect(share('Progressing@30')).toBeGreaterThan(0.3);
    expect(share('Progressing@30')).toBeLessThan(0.65);
    expect(share('Progressing@60')).toBeGreaterThan(0.55);
    expect(share('Progressing@60')).toBeGreaterThan(share('Progressing@30'));
    const after = await tally(() => load.client.whoami(), 100);
    expect(after).toEqual({ v2: 100 });
    const metrics = (await running.admin('/metrics')).text;
    expect(metrics).toMatch(/sluice_canary_weight\{namespace="shop",name="echo"\} 100/);
    expect(metrics).toMatch(/sluice_canary_phase\{namespace="shop",name="echo",phase="Succeeded"\} 1/);
    expect(metrics).toMatch(/sluice_canary_checks_total\{namespace="shop",name="echo",result="passed"\} [3-9]/);
  });

  it('v2 failing 20% of calls is rolled back within threshold intervals, all traffic back on v1', async () => {
    const { running } = await setup({ 'canary.yaml': canary({ steps: [50], threshold: 2, interval: '500ms' }) }, { errorRate: 0.2, errorCode: 14 });
    const load = steadyLoad(running.xdsAddress, 'client-errors');
    cleanups.push(() => load.stop());
    const analysing = await waitForPhase(running, ['CohortTesting', 'Progressing'], 5000);
    const start = Date.now();
    const done = await waitForPhase(running, ['Failed'], 10_000);
    expect(done.failedChecks).toBe(2);
    expect(done.message).toMatch(/success-rate/);
    // threshold (2) intervals of 500 ms, plus RollingBack → Failed (one more), plus slack for report timing.
    expect(Date.now() - start).toBeLessThan(4 * 500 + 1500);
    expect(analysing.phase).not.toBe('Failed');
    await new Promise((r) => setTimeout(r, 300));
    const after = await tally(() => load.client.whoami({ 'x-user-id': 'u-1' }).catch(() => 'error'), 100);
    expect(after.v2 ?? 0).toBe(0);
    expect(after.v1).toBeGreaterThan(60);
    const metrics = (await running.admin('/metrics')).text;
    expect(metrics).toMatch(/sluice_canary_checks_total\{namespace="shop",name="echo",result="failed"\} 2/);
    expect(metrics).toMatch(/sluice_canary_weight\{namespace="shop",name="echo"\} 0/);
  });

  it('too little traffic is no data, not success: an idle canary never advances', async () => {
    const { running } = await setup({ 'canary.yaml': canary({ steps: [50], threshold: 3, interval: '300ms', cohort: false }) });
    const done = await waitForPhase(running, ['Failed', 'Succeeded'], 5000);
    expect(done.phase).toBe('Failed');
    expect(done.message).toMatch(/no data/);
  });

  it('a control plane restarted mid-analysis resumes at the same step (state file)', async () => {
    const stateDir = await mkdtemp(path.join(tmpdir(), 'sluice-state-'));
    cleanups.push(() => rm(stateDir, { recursive: true, force: true }));
    const v1 = await startEchoBackend('v1');
    const v2 = await startEchoBackend('v2');
    cleanups.push(() => v1.stop(), () => v2.stop());
    const files = { 'mesh.yaml': mesh(v1, v2), 'canary.yaml': canary({ steps: [20, 40, 60, 80], interval: '700ms', threshold: 5 }) };
    const first = await startControlPlane(files, { telemetry: { slotMs: 100, lrsReportIntervalMs: 150 }, canaryPersistence: new CanaryStateFile(stateDir) });
    const load = steadyLoad(first.xdsAddress, 'client-restart-1');
    const before = await waitForPhase(first, ['Progressing'], 10_000);
    await new Promise((r) => setTimeout(r, 100));
    const at = await view(first);
    expect(at.phase).toBe('Progressing');
    await load.stop();
    await first.stop();
    // A new process: only the state file carries over.
    const second = await startControlPlane(files, { telemetry: { slotMs: 100, lrsReportIntervalMs: 150 }, canaryPersistence: new CanaryStateFile(stateDir) });
    cleanups.push(() => second.stop());
    const resumed = await view(second);
    expect(resumed.phase).toBe(at.phase);
    expect(resumed.stepIndex).toBe(at.stepIndex);
    expect(resumed.canaryWeight).toBe(at.canaryWeight);
    expect(before.stepIndex).toBeLessThanOrEqual(at.stepIndex);
    // And the new process routes at that weight from the start, then carries on.
    const load2 = steadyLoad(second.xdsAddress, 'client-restart-2');
    cleanups.push(() => load2.stop());
    const done = await waitForPhase(second, ['Succeeded'], 15_000);
    expect(done.canaryWeight).toBe(100);
  });

  it('operators can pause, resume, abort and promote through the admin API', async () => {
    const { running } = await setup({ 'canary.yaml': canary({ steps: [10, 20, 30, 40, 50], interval: '400ms', threshold: 10 }) });
    const load = steadyLoad(running.xdsAddress, 'client-manual');
    cleanups.push(() => load.stop());
    await waitForPhase(running, ['Progressing'], 10_000);
    const post = (action: string) => running.command(`/api/v1/canaries/shop/echo/${action}`);
    const paused = await post('pause');
    expect(paused.status).toBe(200);
    const pausedView = (await paused.json()) as View;
    expect(pausedView.phase).toBe('Paused');
    await new Promise((r) => setTimeout(r, 1200));
    const still = await view(running);
    expect(still.phase).toBe('Paused');
    expect(still.canaryWeight).toBe(pausedView.canaryWeight);
    expect((await post('pause')).status).toBe(409);
    expect(((await (await post('resume')).json()) as View).phase).toBe('Progressing');
    expect(((await (await post('promote')).json()) as View).phase).toBe('Promoting');
    await waitForPhase(running, ['Succeeded'], 3000);
    expect((await post('abort')).status).toBe(409);
    expect((await running.command('/api/v1/canaries/shop/nope/abort')).status).toBe(404);
  });
});
