/**
 * Kubernetes source latency: from an EndpointSlice change on the (fake) API
 * server to the new snapshot published by the SnapshotStore, through the real
 * client-node watch, the coalescing window and per-object resolution.
 *
 * `run({ onSnapshot })` lets a caller extend the measured path: the timer
 * stops when `onSnapshot(snapshot)` resolves (e.g. once every proxy has ACKed
 * the EDS push the snapshot causes).
 */
import type { Snapshot } from '../../control-plane/model/snapshot.js';
import { endpointSlice, namespace, pod, service, startFakeCluster, startSource, trafficPolicy } from '../kubernetes/helpers.js';

export interface KubernetesBenchOptions {
  /** Services in the mesh (each with 2 versions, 4 endpoints and a policy). */
  readonly services?: number;
  readonly iterations?: number;
  /** Extend the measured path; the timer stops when this resolves. */
  readonly onSnapshot?: (snapshot: Snapshot) => Promise<void> | void;
  /** Coalescing windows to measure (ms). */
  readonly windows?: readonly number[];
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

export async function run(options: KubernetesBenchOptions = {}): Promise<void> {
  const services = options.services ?? 500;
  const iterations = options.iterations ?? 40;
  for (const coalesceMs of options.windows ?? [75, 0]) {
    const fake = await startFakeCluster();
    fake.apply(namespace('bench'));
    for (let s = 0; s < services; s++) {
      const name = `svc-${s}`;
      fake.apply(service('bench', name));
      const endpoints: Array<[string, string]> = [];
      for (let e = 0; e < 4; e++) {
        const podName = `${name}-${e}`;
        fake.apply(pod('bench', podName, { app: name, version: e < 3 ? 'v1' : 'v2' }));
        endpoints.push([`10.${Math.floor(s / 250)}.${s % 250}.${e + 1}`, podName]);
      }
      fake.apply(endpointSlice('bench', name, endpoints));
      fake.apply(trafficPolicy('bench', name, name, { v1: 90, v2: 10 }));
    }
    const syncStart = performance.now();
    const running = await startSource(fake, { coalesceMs });
    const syncMs = performance.now() - syncStart;

    const samples: number[] = [];
    for (let i = 0; i < iterations; i++) {
      const target = `svc-${(i * 37) % services}`;
      const address = `10.200.${i % 250}.${Math.floor(i / 250) + 1}`;
      const published = new Promise<Snapshot>((resolve) => {
        const unsubscribe = running.store.subscribe((snapshot) => {
          if (snapshot.services.get(`${target}.bench.svc.cluster.local`)?.endpoints.some((e) => e.address === address)) {
            unsubscribe();
            resolve(snapshot);
          }
        });
      });
      const started = performance.now();
      fake.apply(endpointSlice('bench', target, [[address, `${target}-0`], [`10.201.0.${(i % 250) + 1}`, `${target}-3`]]));
      const snapshot = await published;
      await options.onSnapshot?.(snapshot);
      samples.push(performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await running.stop();
    await fake.close();
    samples.sort((a, b) => a - b);
    const objects = services * 8 + 1;
    process.stdout.write(
      `kubernetes: ${services} services (${objects} objects), coalesce ${coalesceMs} ms: initial sync ${syncMs.toFixed(0)} ms; ` +
        `EndpointSlice change → snapshot${options.onSnapshot ? ' → callback' : ''} p50 ${percentile(samples, 50).toFixed(1)} ms, p99 ${percentile(samples, 99).toFixed(1)} ms, max ${samples.at(-1)!.toFixed(1)} ms (${iterations} changes)\n`,
    );
  }
}
