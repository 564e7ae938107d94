/**
 * The serve-path benchmark's simulated sidecar against the real control plane
 * (in-process): it must subscribe as Envoy does — EDS for every EDS cluster
 * CDS gave it, RDS for the route tables its listeners name — over both
 * protocols, and recognise a change by its bytes. If it did not, the
 * benchmark would time the wrong thing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ControlPlane } from '../../control-plane/pipeline/control-plane.js';
import { createLogger } from '../../control-plane/log/logger.js';
import { loadFromTexts } from '../../control-plane/sources/yaml-directory.js';
import { extraAddress, meshFiles, podsOf, serviceFilePaths, serviceFileText, serviceName, type MeshShape } from '../support/generated-mesh.js';
import { PushedSource } from '../support/pushed-source.js';
import { SimulatedSidecar, sidecarTypeUrls, type XdsProtocol } from './serve-path-sidecar.js';

const shape: MeshShape = { services: 6, versions: 2, endpointsPerVersion: 1, namespaces: 2 };
const running: Array<{ stop(): Promise<void> | void }> = [];
afterEach(async () => {
  for (const r of running.splice(0).reverse()) await r.stop();
});

async function start(protocol: XdsProtocol) {
  const files = meshFiles(shape);
  const source = new PushedSource(loadFromTexts(files));
  const controlPlane = new ControlPlane({ source, logger: createLogger('silent'), host: '127.0.0.1', xdsPort: 0, adminPort: 0, debounceMs: 0 });
  const { xdsPort } = await controlPlane.start();
  running.push(controlPlane);
  const pod = podsOf(1, shape)[0]!;
  const sidecar = new SimulatedSidecar(`127.0.0.1:${xdsPort}`, { nodeId: `${pod.name}.${pod.namespace}`, namespace: pod.namespace, labels: pod.labels }, protocol);
  running.push({ stop: () => sidecar.close() });
  await sidecar.start();
  return { sidecar, source, files, controlPlane };
}

describe.each(['sotw', 'delta'] as const)('simulated sidecar over %s', (protocol) => {
  it('subscribes to every EDS cluster and route table, fronts its own service, and sees an added endpoint', async () => {
    const { sidecar, source, files, controlPlane } = await start(protocol);
    const expected = Array.from({ length: shape.services }, (_, i) => `${serviceName(i)}.ns-${i % shape.namespaces}.svc.cluster.local`).flatMap((host) => ['', 'v1', 'v2'].map((v) => `outbound|8080|${v}|${host}`));
    expect([...sidecar.subscriptions.endpoints].sort()).toEqual(expected.sort());
    expect(sidecar.subscriptions.routes).toEqual(['8080']);
    // Its scope is its own service: the control plane sees it fronting svc-0001.
    const row = controlPlane.connections.all()[0]!;
    expect(row.scopeKey).toBe(`sidecar/ns-1/${serviceName(1)}.ns-1.svc.cluster.local`);
    expect(row.types.endpoints?.acked).toBe(row.types.endpoints?.sent);

    const changed = new Promise<void>((resolve) => sidecar.watch({ typeUrl: sidecarTypeUrls.endpoints, marker: Buffer.from(extraAddress(3, 0)) }, resolve));
    const path = serviceFilePaths(3, shape).service;
    source.push(loadFromTexts(files.map(([name, text]) => (name === path ? [name, serviceFileText(3, shape, 1)] : [name, text]) as [string, string])));
    await changed;
    expect(sidecar.changedAt).toBeGreaterThan(0);
    expect(sidecar.bytes).toBeGreaterThan(0);
    if (protocol === 'delta') expect(sidecar.responses).toBe(1);
  });
});
