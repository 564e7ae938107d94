/**
 * Canary commands by `kubectl annotate` (sluice.dev/command + command-id),
 * acted on once by the leader and acknowledged in status.lastCommand; and
 * spec.finish: after success the TrafficPolicy points at the new version and
 * the old Deployment is scaled to 0 — all against the test API server, with
 * the source, persistence and finisher `sluice serve --kubeconfig` uses.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { CanaryController } from '../../control-plane/canary/controller.js';
import { KubernetesCanaryFinisher, routesToCanary } from '../../control-plane/canary/kubernetes-finish.js';
import { KubernetesCanaryPersistence } from '../../control-plane/canary/kubernetes-persistence.js';
import { TelemetryStore } from '../../control-plane/telemetry/telemetry-store.js';
import type { FakeKubeApiServer } from '../support/fake-kube-apiserver.js';
import path from 'node:path';
import { allowedBy, requestOf } from '../install/install-checks.js';
import { canary, namespace, readYamlDocuments, repoRoot, routeWeights, seedOrders, silent, startFakeCluster, startSource, waitFor, type RunningSource } from './helpers.js';

const CONTROL_PLANE_USER = 'system:serviceaccount:sluice-system:sluice';
let fake: FakeKubeApiServer;
let run: RunningSource;
const controllers: CanaryController[] = [];

const deployment = (name: string, version: string, replicas: number) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: 'shop' },
  spec: {
    replicas,
    selector: { matchLabels: { app: 'orders', version } },
    template: { metadata: { labels: { app: 'orders', version } }, spec: { containers: [{ name: 'orders', image: `ghcr.io/carrier/orders:${version}` }] } },
  },
});

function startController(isLeader: boolean): CanaryController {
  const controller = new CanaryController({
    store: run.store,
    telemetry: new TelemetryStore(),
    logger: silent,
    registry: new Registry(),
    persistence: new KubernetesCanaryPersistence({ kubeConfig: fake.kubeConfig(), statusWriter: run.source.statusWriter, isLeader: () => isLeader }),
    // As the control plane's service account, so its requests can be checked against the shipped RBAC.
    finisher: new KubernetesCanaryFinisher(fake.kubeConfig(CONTROL_PLANE_USER)),
    isActive: () => isLeader,
  });
  controllers.push(controller);
  return controller;
}

type CanaryObject = { metadata: { annotations?: Record<string, string> }; status?: Record<string, any> };
const stored = () => fake.get('sluice.dev/v1alpha1', 'Canary', 'shop', 'orders') as unknown as CanaryObject;
const statusOf = () => stored().status ?? {};

/** What `kubectl annotate --overwrite canary/orders sluice.dev/command=… sluice.dev/command-id=…` stores. */
function annotate(command: string, id?: string): void {
  const object = stored();
  const annotations: Record<string, string> = { ...object.metadata.annotations, 'sluice.dev/command': command };
  if (id === undefined) delete annotations['sluice.dev/command-id'];
  else annotations['sluice.dev/command-id'] = id;
  fake.apply({ ...object, metadata: { ...object.metadata, annotations } });
}

const events = (reason: string) => fake.list('v1', 'Event', 'shop').filter((e) => (e as { reason?: string }).reason === reason) as Array<Record<string, any>>;

beforeAll(async () => {
  fake = await startFakeCluster();
  seedOrders(fake);
  fake.apply(namespace('sluice-system'));
  for (const doc of await readYamlDocuments(path.join(repoRoot, 'examples/deploy/10-rbac.yaml'))) fake.apply(doc);
  fake.apply(deployment('orders-v1', 'v1', 3));
  fake.apply(deployment('orders-v2', 'v2', 2));
  const spec = canary('shop', 'orders', 'orders', 'v1', 'v2');
  // A long interval and a high threshold: only the commands move this canary.
  fake.apply({ ...spec, spec: { ...spec.spec, interval: '300ms', threshold: 1000, finish: { targetRef: { kind: 'Deployment', name: 'orders-v1' } } } });
  run = await startSource(fake);
  await startController(true).start();
  await waitFor(() => statusOf().phase === 'Progressing', 5000, 'the canary to progress');
});

afterAll(async () => {
  for (const c of controllers) c.stop();
  await run?.stop();
  await fake?.close();
});

describe('canary commands by annotation', () => {
  it('pause: applied by the leader, acknowledged in status.lastCommand, recorded as an Event', async () => {
    annotate('pause', 'release-42-pause');
    await waitFor(() => statusOf().phase === 'Paused', 5000, 'Paused');
    expect(statusOf().lastCommand).toMatchObject({ command: 'pause', id: 'release-42-pause', result: 'Applied' });
    await waitFor(() => events('CommandApplied').length > 0, 5000, 'the CommandApplied Event');
  });

  it('an acknowledged command left on the Canary does not act again; a new one does', async () => {
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(statusOf().phase).toBe('Paused');
    annotate('resume', 'release-42-resume');
    await waitFor(() => statusOf().phase === 'Progressing', 5000, 'Progressing again');
    expect(statusOf().lastCommand).toMatchObject({ command: 'resume', result: 'Applied' });
  });

  it('a follower does not act on the annotation: it saves nothing and follows what the leader wrote', async () => {
    const real = new KubernetesCanaryPersistence({ kubeConfig: fake.kubeConfig(), statusWriter: run.source.statusWriter, isLeader: () => false });
    const saves: string[] = [];
    const follower = new CanaryController({
      store: run.store, telemetry: new TelemetryStore(), logger: silent, registry: new Registry(), isActive: () => false,
      persistence: { description: 'spy', loadAll: () => real.loadAll(), remove: async () => undefined, save: async (_ns, _name, state) => { saves.push(state.phase); } },
    });
    controllers.push(follower);
    await follower.start();
    annotate('abort', 'follower-only');
    await waitFor(() => statusOf().lastCommand?.id === 'follower-only', 5000, 'the leader to acknowledge');
    expect(statusOf().phase).toBe('RollingBack');
    await waitFor(() => ['RollingBack', 'Failed'].includes(follower.get('shop', 'orders')?.phase ?? ''), 5000, 'the follower to follow');
    expect(saves).toEqual([]);
    follower.stop();
  });

  it('a value that is no command, or one the phase refuses, is acknowledged as Refused with why', async () => {
    annotate('promot', 'typo');
    await waitFor(() => statusOf().lastCommand?.id === 'typo', 5000, 'the refusal');
    expect(statusOf().lastCommand).toMatchObject({ command: 'promot', result: 'Refused', message: '"promot" is not a command (promote, abort, pause, resume)' });
    await waitFor(() => events('CommandRefused').length > 0, 5000, 'the CommandRefused Event');
    await waitFor(() => statusOf().phase === 'Failed', 5000, 'the aborted canary to fail');
    annotate('resume', 'too-late');
    await waitFor(() => statusOf().lastCommand?.id === 'too-late', 5000, 'the refusal');
    expect(statusOf().lastCommand).toMatchObject({ result: 'Refused', message: 'cannot resume a canary that is Failed (not Paused)' });
  });
});

describe('spec.finish (targetRef to the stable Deployment)', () => {
  it('after promotion: the TrafficPolicy sends v1\'s share to v2, then orders-v1 is scaled to 0', async () => {
    // Release v2 again with a fresh Canary object (the previous one was aborted).
    const object = stored() as unknown as { metadata: Record<string, any>; spec: Record<string, any> };
    fake.delete('sluice.dev/v1alpha1', 'Canary', 'shop', 'orders');
    await waitFor(() => run.store.current?.canaries.length === 0, 5000, 'the Canary to go');
    fake.apply({ apiVersion: 'sluice.dev/v1alpha1', kind: 'Canary', metadata: { name: 'orders', namespace: 'shop' }, spec: object.spec });
    await waitFor(() => statusOf().phase === 'Progressing', 5000, 'the new analysis');
    expect(fake.get('apps/v1', 'Deployment', 'shop', 'orders-v1')!.spec).toMatchObject({ replicas: 3 });

    annotate('promote', 'ship-it');
    await waitFor(() => statusOf().phase === 'Succeeded', 5000, 'Succeeded');
    const finished = await waitFor(() => (statusOf().conditions as Array<Record<string, any>> | undefined)?.find((c) => c.type === 'Finished'), 5000, 'the Finished condition');
    expect(finished).toMatchObject({ status: 'True', message: 'TrafficPolicy shop/orders now sends v1\'s traffic to v2; Deployment shop/orders-v1 scaled from 3 to 0 replicas' });

    const policy = fake.get('sluice.dev/v1alpha1', 'TrafficPolicy', 'shop', 'orders') as unknown as { spec: { routes: unknown[] } };
    expect(policy.spec.routes).toEqual([{ name: 'split', to: [{ version: 'v2', weight: 100 }] }]);
    expect(fake.get('apps/v1', 'Deployment', 'shop', 'orders-v1')!.spec).toMatchObject({ replicas: 0 });
    expect(fake.get('apps/v1', 'Deployment', 'shop', 'orders-v2')!.spec).toMatchObject({ replicas: 2 });
    await waitFor(() => events('Finished').length > 0, 5000, 'the Finished Event');

    // Every request of the finish was one the shipped RBAC (ClusterRole sluice-canary-finish) allows.
    const made = fake.requests.filter((r) => r.user === CONTROL_PLANE_USER);
    expect(made.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /apis/sluice.dev/v1alpha1/namespaces/shop/trafficpolicies/orders', 'PUT /apis/sluice.dev/v1alpha1/namespaces/shop/trafficpolicies/orders',
      'GET /apis/apps/v1/namespaces/shop/deployments/orders-v1', 'PUT /apis/apps/v1/namespaces/shop/deployments/orders-v1',
    ]);
    const allowed = allowedBy(fake, { namespace: 'sluice-system', name: 'sluice' });
    for (const r of made) expect({ r: r.path, allowed: allowed(requestOf(r.method, r.path, r.query)) }).toEqual({ r: r.path, allowed: true });

    // The model follows the policy: deleting the Canary now leaves all traffic on v2.
    fake.delete('sluice.dev/v1alpha1', 'Canary', 'shop', 'orders');
    await waitFor(() => run.store.current?.canaries.length === 0 && JSON.stringify(routeWeights(run.store.current)) === JSON.stringify([['v2', 100]]), 5000, 'routes on v2 without the Canary');
  });

  it('rewrites each route\'s stable share and adds a catch-all when the policy has none', () => {
    const routes = routesToCanary({
      service: 'orders',
      versions: { v1: { labels: { version: 'v1' } }, v2: { labels: { version: 'v2' } } },
      routes: [
        { name: 'staff', match: { headers: [{ name: 'x-staff', present: true }] }, to: [{ version: 'v1', weight: 70 }, { version: 'v2', weight: 30 }] },
        { name: 'beta', match: { path: { prefix: '/beta' } }, to: [{ version: 'v2', weight: 100 }] },
      ],
    } as never, 'v1', 'v2');
    expect(routes).toEqual([
      { name: 'staff', match: { headers: [{ name: 'x-staff', present: true }] }, to: [{ version: 'v2', weight: 100 }] },
      { name: 'beta', match: { path: { prefix: '/beta' } }, to: [{ version: 'v2', weight: 100 }] },
      { name: 'sluice-finished', to: [{ version: 'v2', weight: 100 }] },
    ]);
    expect(routesToCanary({ service: 'orders', versions: {}, routes: [{ name: 'all', to: [{ version: 'v2', weight: 100 }] }] } as never, 'v1', 'v2')).toBeUndefined();
  });
});
