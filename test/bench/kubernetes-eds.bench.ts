/**
 * From an EndpointSlice change on the (fake) API server to the EDS push ACKed
 * by 1,000 proxies: the real client-node watch, the Kubernetes source's
 * coalescing, the model, translation, the xDS cache and the fan-out.
 * SLUICE_K8S_PROXIES changes the number of proxies.
 */
import { ControlPlane } from '../../control-plane/pipeline/control-plane.js';
import { createLogger } from '../../control-plane/log/logger.js';
import { kubernetesSource as createKubernetesSource } from '../../control-plane/pipeline/kubernetes-source.js';
import { typeUrls } from '../support/ads-client.js';
import { endpointSlice, namespace, pod, service, startFakeCluster, trafficPolicy } from '../kubernetes/helpers.js';
import { ProxyFleet } from './proxy-fleet.js';

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const now = () => performance.timeOrigin + performance.now();

export async function run(): Promise<void> {
  const proxies = Number(process.env.SLUICE_K8S_PROXIES ?? 1000);
  const services = 100;
  const fake = await startFakeCluster();
  fake.apply(namespace('bench'));
  for (let s = 0; s < services; s++) {
    const name = `svc-${s}`;
    fake.apply(service('bench', name));
    const endpoints: Array<[string, string]> = [];
    for (let e = 0; e < 4; e++) {
      fake.apply(pod('bench', `${name}-${e}`, { app: name, version: e < 3 ? 'v1' : 'v2' }));
      endpoints.push([`10.0.${s}.${e + 1}`, `${name}-${e}`]);
    }
    fake.apply(endpointSlice('bench', name, endpoints));
    fake.apply(trafficPolicy('bench', name, name, { v1: 90, v2: 10 }));
  }
  const logger = createLogger('warn');
  const source = createKubernetesSource({ kubeconfig: await fake.writeKubeconfig(), logger });
  const controlPlane = new ControlPlane({ source, logger, host: '127.0.0.1', xdsPort: 0, adminPort: 0 });
  const { xdsPort } = await controlPlane.start();
  await new Promise((r) => setTimeout(r, 300));
  const edsNames = [...controlPlane.store.current!.services.values()].flatMap((s) => ['', ...s.versions.keys()].map((v) => `outbound|8080|${v}|${s.host}`));
  const fleet = new ProxyFleet();
  await fleet.connect(proxies, { mode: 'ads', address: `127.0.0.1:${xdsPort}`, edsNames, namespace: 'bench' });

  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    const armed = await fleet.arm(typeUrls.endpoints);
    const target = `svc-${(i * 37) % services}`;
    const started = now();
    fake.apply(endpointSlice('bench', target, [[`10.200.${i}.1`, `${target}-0`], [`10.0.${(i * 37) % services}.4`, `${target}-3`]]));
    await armed.received;
    // Until the server has processed every ACK of the EDS push.
    for (;;) {
      const rows = controlPlane.connections.all();
      if (rows.length >= proxies && rows.every((c) => c.types.endpoints?.acked === c.types.endpoints?.sent)) break;
      await new Promise((r) => setImmediate(r));
    }
    samples.push(now() - started);
  }
  await fleet.close();
  await controlPlane.stop();
  await fake.close();
  samples.sort((a, b) => a - b);
  process.stdout.write(
    `kubernetes → xDS: ${services} services, ${proxies} proxies subscribing ${edsNames.length} EDS clusters each: EndpointSlice change → EDS push ACKed by every proxy ` +
      `p50 ${percentile(samples, 50).toFixed(0)} ms, max ${samples.at(-1)!.toFixed(0)} ms (${samples.length} changes; includes the 75 ms watch coalescing and 100 ms push debounce)\n`,
  );
}
