/**
 * Canary progress in Kubernetes: written to Canary.status through the status
 * subresource (what `kubectl get canaries` shows and a new leader resumes
 * from), and each transition recorded as an Event on the Canary.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubernetesCanaryPersistence } from '../../control-plane/canary/kubernetes-persistence.js';
import type { CanaryState } from '../../control-plane/canary/state-machine.js';
import type { FakeKubeApiServer } from '../support/fake-kube-apiserver.js';
import { canary, seedOrders, startFakeCluster, startSource, waitFor, type RunningSource } from './helpers.js';

let fake: FakeKubeApiServer;
let run: RunningSource;
let persistence: KubernetesCanaryPersistence;

beforeAll(async () => {
  fake = await startFakeCluster();
  seedOrders(fake);
  fake.apply(canary('shop', 'orders', 'orders', 'v1', 'v2'));
  run = await startSource(fake);
  persistence = new KubernetesCanaryPersistence({ kubeConfig: fake.kubeConfig(), statusWriter: run.source.statusWriter, isLeader: () => true });
});

afterAll(async () => {
  await run?.stop();
  await fake?.close();
});

const progressing: CanaryState = { phase: 'Progressing', canaryWeight: 50, stepIndex: 1, failedChecks: 1, canaryVersion: 'v2', lastTransitionTime: '2026-11-25T05:00:00.000Z', message: 'advanced to 50%' };

describe('canary state in Kubernetes', () => {
  it('writes phase, weight, failed checks and transition time to Canary.status, and reads them back', async () => {
    await persistence.save('shop', 'orders', progressing, 1);
    const status = fake.get('sluice.dev/v1alpha1', 'Canary', 'shop', 'orders')!.status as Record<string, unknown>;
    expect(status).toMatchObject({ phase: 'Progressing', canaryWeight: 50, stepIndex: 1, failedChecks: 1, canaryVersion: 'v2', lastTransitionTime: '2026-11-25T05:00:00Z', message: 'advanced to 50%', observedGeneration: 1 });
    const loaded = (await persistence.loadAll()).get('shop/orders');
    expect(loaded).toMatchObject({ phase: 'Progressing', canaryWeight: 50, stepIndex: 1, failedChecks: 1, canaryVersion: 'v2' });
  });

  it('keeps the phase a paused canary resumes to', async () => {
    await persistence.save('shop', 'orders', { ...progressing, phase: 'Paused', pausedFrom: 'Progressing', message: 'paused by an operator' }, 1);
    const loaded = (await persistence.loadAll()).get('shop/orders');
    expect(loaded).toMatchObject({ phase: 'Paused', pausedFrom: 'Progressing', canaryWeight: 50 });
  });

  it('records transitions as Events on the Canary', async () => {
    await persistence.recordEvent('shop', 'orders', 'Warning', 'RollingBack', 'success rate 80% < 99%');
    const event = await waitFor(() => fake.list('v1', 'Event', 'shop').find((e) => (e as { reason?: string }).reason === 'RollingBack'), 5000, 'the Event');
    expect(event).toMatchObject({ type: 'Warning', message: 'success rate 80% < 99%', involvedObject: { kind: 'Canary', name: 'orders', namespace: 'shop' } });
  });

  it('a follower writes nothing', async () => {
    const follower = new KubernetesCanaryPersistence({ kubeConfig: fake.kubeConfig(), statusWriter: run.source.statusWriter, isLeader: () => false });
    const before = fake.list('v1', 'Event', 'shop').length;
    await follower.recordEvent('shop', 'orders', 'Normal', 'Promoting', 'should not appear');
    expect(fake.list('v1', 'Event', 'shop')).toHaveLength(before);
  });
});
