/**
 * Injection completeness: app probes through the proxy's status port, holding
 * the app until the proxy is ready, and the proxy's ports and uid set by
 * sluice's own annotations. Everything goes through reviewAdmission with the
 * AdmissionReview an API server posts; the patched pods are checked against
 * Kubernetes' schemas and every bootstrap against Envoy's proto and rules.
 */
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Pod as PodModel } from 'kubernetes-models/v1';
import { reviewAdmission } from '../../webhook/admission.js';
import { DEFAULT_INJECTION_CONFIG, parseInjectionConfig, type InjectionConfig } from '../../webhook/config.js';
import { ConfigError } from '../../control-plane/core/errors.js';
import { readinessWaitScript } from '../../webhook/hold-application.js';
import type { Pod } from '../../webhook/kube.js';
import {
  admissionReview, applyPatch, assertValidBootstrap, container, decodePatch, deploymentPod, expandReferences, silentLog, startedBootstrap,
} from './helpers.js';

const started = { name: 'orders-7d9f8c6b5-x2x9q', namespace: 'shop' };

/** A Spring Boot pod as a Deployment's ReplicaSet creates it, with its actuator probes. */
function springPod(annotations?: Record<string, string>): Pod {
  const pod = deploymentPod(annotations ? { annotations } : {});
  Object.assign(pod.spec!.containers[0]!, {
    ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }, { name: 'mgmt', containerPort: 8081, protocol: 'TCP' }],
    livenessProbe: { httpGet: { path: '/actuator/health/liveness', port: 'mgmt', scheme: 'HTTP' }, periodSeconds: 10, failureThreshold: 3, timeoutSeconds: 1, successThreshold: 1 },
    readinessProbe: { httpGet: { path: '/actuator/health/readiness', port: 8080, httpHeaders: [{ name: 'X-Probe', value: 'kubelet' }] }, periodSeconds: 5, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
    startupProbe: { tcpSocket: { port: 8080 }, periodSeconds: 2, failureThreshold: 30, timeoutSeconds: 1, successThreshold: 1 },
  });
  pod.spec!.containers.push({
    name: 'audit-shipper',
    image: 'ghcr.io/carrier/audit-shipper:2.0',
    ports: [{ containerPort: 9443 }],
    livenessProbe: { httpGet: { path: '/health', port: 9443, scheme: 'HTTPS' }, periodSeconds: 10 },
    readinessProbe: { httpGet: { path: '/ready', port: 'metrics' } },
  });
  return pod;
}

function review(pod: Pod, config: InjectionConfig = DEFAULT_INJECTION_CONFIG) {
  return reviewAdmission(admissionReview(pod).request, { config, policy: 'enabled', log: silentLog }).response.response;
}

function inject(pod: Pod, config: InjectionConfig = DEFAULT_INJECTION_CONFIG): Pod {
  const response = review(pod, config);
  expect(response.allowed, response.status?.message).toBe(true);
  const out = applyPatch(pod, decodePatch(response.patch!));
  expect(() => new PodModel(out as never).validate()).not.toThrow();
  return out;
}

const statusOf = (pod: Pod) => JSON.parse(pod.metadata!.annotations!['sidecar.sluice.dev/status']!) as Record<string, unknown>;
type Json = Record<string, any>;
const listener = (bootstrap: Json, name: string) => (bootstrap.static_resources.listeners as Json[]).find((l) => l.name === name)!;
const statusRoutes = (bootstrap: Json) => listener(bootstrap, 'sluice-health').filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes as Json[];
const cluster = (bootstrap: Json, name: string) => (bootstrap.static_resources.clusters as Json[]).find((c) => c.name === name)!;

describe('app probes through the proxy', () => {
  it('points httpGet probes at the status port and keeps their thresholds and headers', () => {
    const out = inject(springPod());
    const app = container(out, 'orders');
    expect(app.livenessProbe).toEqual({ httpGet: { path: '/app-health/orders/livez', port: 15021 }, periodSeconds: 10, failureThreshold: 3, timeoutSeconds: 1, successThreshold: 1 });
    expect(app.readinessProbe.httpGet).toEqual({ path: '/app-health/orders/readyz', port: 15021, httpHeaders: [{ name: 'X-Probe', value: 'kubelet' }] });
    // tcpSocket probes, HTTPS probes and unknown named ports are left as written, and said so.
    expect(app.startupProbe).toEqual(springPod().spec!.containers[0]!.startupProbe);
    const shipper = container(out, 'audit-shipper');
    expect(shipper.livenessProbe.httpGet.port).toBe(9443);
    expect(shipper.readinessProbe.httpGet.port).toBe('metrics');
    expect(statusOf(out)).toMatchObject({
      rewrittenProbes: ['orders/livenessProbe', 'orders/readinessProbe'],
      probesNotRewritten: ['audit-shipper/livenessProbe: scheme HTTPS', 'audit-shipper/readinessProbe: port "metrics" is not a port of the container'],
    });
  });

  it('forwards each rewritten path to the original path and port on loopback, in a bootstrap Envoy accepts', () => {
    const bootstrap = startedBootstrap(inject(springPod()), started);
    const routes = statusRoutes(bootstrap);
    expect(routes).toEqual([
      { match: { path: '/app-health/orders/livez' }, route: { cluster: 'sluice-app-health-8081', prefix_rewrite: '/actuator/health/liveness' } },
      { match: { path: '/app-health/orders/readyz' }, route: { cluster: 'sluice-app-health-8080', prefix_rewrite: '/actuator/health/readiness' } },
      { match: { path: '/healthz/ready' }, route: { cluster: 'sluice-admin', prefix_rewrite: '/ready' } },
    ]);
    expect(cluster(bootstrap, 'sluice-app-health-8081').load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address).toEqual({ address: '127.0.0.1', port_value: 8081 });
    assertValidBootstrap(bootstrap);
  });

  it('keeps a literal $ of a probe path through the kubelet\'s $(VAR) expansion', () => {
    const pod = springPod();
    pod.spec!.containers[0]!.livenessProbe = { httpGet: { path: '/health$(HOME)', port: 8080 } };
    const routes = statusRoutes(startedBootstrap(inject(pod), started));
    expect(routes[0]!.route.prefix_rewrite).toBe('/health$(HOME)');
  });

  it('is turned off per pod (annotation) or by default (config), and then changes no probe', () => {
    const off = inject(springPod({ 'sidecar.sluice.dev/rewriteAppProbes': 'false' }));
    expect(container(off, 'orders').livenessProbe).toEqual(springPod().spec!.containers[0]!.livenessProbe);
    expect(statusOf(off).rewrittenProbes).toBeUndefined();
    expect(statusRoutes(startedBootstrap(off, started))).toHaveLength(1);
    const config = parseInjectionConfig('proxy:\n  rewriteAppProbes: false\n');
    expect(container(inject(springPod(), config), 'orders').readinessProbe.httpGet.port).toBe(8080);
  });
});

describe('the proxy\'s ports and uid from sluice annotations', () => {
  const annotations = {
    'sidecar.sluice.dev/proxyUID': '2000',
    'sidecar.sluice.dev/statusPort': '16021',
    'sidecar.sluice.dev/prometheusPort': '16090',
    'sidecar.sluice.dev/adminPort': '16000',
    // Istio's annotations on the same pod are not ours: they change nothing here.
    'sidecar.istio.io/statusPort': '17021',
  };

  it('moves every use of them: container, probes, iptables rules, bootstrap, scrape annotation', () => {
    const out = inject(springPod(annotations));
    const proxy = container(out, 'sluice-proxy');
    expect(proxy.securityContext).toMatchObject({ runAsUser: 2000, runAsGroup: 2000 });
    expect(proxy.ports).toEqual([
      { name: 'http-envoy-prom', containerPort: 16090, protocol: 'TCP' },
      { name: 'sluice-health', containerPort: 16021, protocol: 'TCP' },
    ]);
    expect(proxy.readinessProbe.httpGet.port).toBe(16021);
    expect(container(out, 'orders').livenessProbe.httpGet).toEqual({ path: '/app-health/orders/livez', port: 16021 });
    const rules = (container(out, 'sluice-init').env as Array<{ name: string; value: string }>)[0]!.value;
    expect(rules).toContain('--uid-owner 2000 -j RETURN');
    expect(rules).toContain('--gid-owner 2000 -j RETURN');
    expect(rules).toContain('--dport 16021 -j RETURN');
    expect(rules).toContain('--dport 16090 -j RETURN');
    expect(rules).not.toContain('1337');
    expect(rules).not.toContain('15021');
    expect(out.metadata!.annotations!['prometheus.io/port']).toBe('16090');
    const bootstrap = startedBootstrap(out, started);
    expect(bootstrap.admin.address.socket_address.port_value).toBe(16000);
    expect(cluster(bootstrap, 'sluice-admin').load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value).toBe(16000);
    expect(listener(bootstrap, 'sluice-health').address.socket_address.port_value).toBe(16021);
    expect(listener(bootstrap, 'sluice-prometheus').address.socket_address.port_value).toBe(16090);
    assertValidBootstrap(bootstrap);
  });

  it('rejects root, privileged ports, a capture port and two ports on one number, naming the annotations', () => {
    const bad = review(springPod({ 'sidecar.sluice.dev/proxyUID': '0', 'sidecar.sluice.dev/statusPort': '80' }));
    expect(bad.allowed).toBe(false);
    expect(bad.status?.message).toContain('sidecar.sluice.dev/proxyUID: "0" is not a non-root uid');
    expect(bad.status?.message).toContain('sidecar.sluice.dev/statusPort: "80" is not a port from 1024 to 65535');
    const capture = review(springPod({ 'sidecar.sluice.dev/statusPort': '15006' }));
    expect(capture.allowed).toBe(false);
    expect(capture.status?.message).toMatch(/sidecar\.sluice\.dev\/statusPort.*capture port/);
    const clash = review(springPod({ 'sidecar.sluice.dev/prometheusPort': '15021' }));
    expect(clash.status?.message).toMatch(/status and prometheus ports are both 15021/);
  });

  it('are mesh defaults in the injection config, checked with file positions', () => {
    const config = parseInjectionConfig('proxy:\n  uid: 3000\n  ports: {status: 15121}\n');
    const proxy = container(inject(springPod(), config), 'sluice-proxy');
    expect(proxy.securityContext.runAsUser).toBe(3000);
    expect(proxy.readinessProbe.httpGet.port).toBe(15121);
    let error: unknown;
    try {
      parseInjectionConfig('proxy:\n  ports:\n    admin: 15001\n', 'cfg.yaml');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues[0]).toMatchObject({ field: 'proxy.ports', location: { file: 'cfg.yaml', line: 3 } });
  });
});

describe('holding the app until the proxy is ready', () => {
  it('classic sidecar: the proxy goes first with a postStart wait; probe patches follow the shifted indexes', () => {
    const out = inject(springPod({ 'sidecar.sluice.dev/holdApplicationUntilProxyStarts': 'true' }));
    expect(out.spec!.containers.map((c) => c.name)).toEqual(['sluice-proxy', 'orders', 'audit-shipper']);
    const proxy = container(out, 'sluice-proxy');
    expect(proxy.lifecycle.postStart.exec.command.slice(0, 2)).toEqual(['/bin/bash', '-c']);
    expect(container(out, 'orders').livenessProbe.httpGet.path).toBe('/app-health/orders/livez');
    expect(out.metadata!.annotations!['kubectl.kubernetes.io/default-container']).toBe('orders');
    expect(statusOf(out).holdApplicationUntilProxyStarts).toBe(true);
  });

  it('native sidecar: the proxy init container gets a startupProbe on its readiness path', () => {
    const config = parseInjectionConfig('proxy:\n  nativeSidecar: true\n  holdApplicationUntilProxyStarts: true\n');
    const out = inject(springPod(), config);
    expect(out.spec!.initContainers!.map((c) => c.name)).toEqual(['sluice-init', 'sluice-proxy']);
    const proxy = container(out, 'sluice-proxy');
    expect(proxy.restartPolicy).toBe('Always');
    expect(proxy.startupProbe).toMatchObject({ httpGet: { path: '/healthz/ready', port: 15021 }, periodSeconds: 1 });
    expect(proxy.lifecycle).toBeUndefined();
  });

  it('off by default: the app stays first and the proxy has no hook', () => {
    const out = inject(springPod());
    expect(out.spec!.containers[0]!.name).toBe('orders');
    expect(container(out, 'sluice-proxy').lifecycle).toBeUndefined();
  });

  describe('the postStart script, run by bash as the kubelet would start it', () => {
    let server: Server | undefined;
    afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

    /** A stand-in for Envoy's status listener: 503 for the first `notReadyFor` requests, then 200. */
    async function readiness(notReadyFor: number): Promise<{ port: number; requests: () => number }> {
      let requests = 0;
      server = createServer((request, response) => {
        requests++;
        response.statusCode = request.url === '/healthz/ready' && requests > notReadyFor ? 200 : 503;
        response.end();
      });
      await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
      return { port: (server.address() as AddressInfo).port, requests: () => requests };
    }

    function runHook(port: number, timeoutSeconds: number): Promise<number> {
      // The command as injected, expanded the way the kubelet does (its $$ escapes back to $).
      const pod = inject(springPod({ 'sidecar.sluice.dev/holdApplicationUntilProxyStarts': 'true', 'sidecar.sluice.dev/statusPort': String(port) }));
      const injected = container(pod, 'sluice-proxy').lifecycle.postStart.exec.command[2] as string;
      expect(expandReferences(injected, new Map())).toBe(readinessWaitScript(port, '/healthz/ready'));
      const script = readinessWaitScript(port, '/healthz/ready', timeoutSeconds);
      return new Promise((resolve, reject) => {
        const child = spawn('/bin/bash', ['-c', script], { stdio: 'ignore' });
        child.on('error', reject);
        child.on('exit', (code) => resolve(code ?? -1));
      });
    }

    it('returns 0 once the readiness path answers 200, after polling through 503s', async () => {
      const ready = await readiness(2);
      expect(await runHook(ready.port, 20)).toBe(0);
      expect(ready.requests()).toBe(3);
    });

    it('fails (non-zero) when the proxy never becomes ready', async () => {
      const never = await readiness(Number.MAX_SAFE_INTEGER);
      expect(await runHook(never.port, 1)).toBe(1);
      expect(never.requests()).toBeGreaterThan(0);
    });

    it('keeps polling while nothing listens yet', async () => {
      const { port } = await readiness(0);
      await new Promise<void>((resolve) => server!.close(() => resolve()));
      const hook = runHook(port, 20);
      await new Promise((resolve) => setTimeout(resolve, 700));
      server = createServer((_request, response) => { response.statusCode = 200; response.end(); });
      await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
      expect(await hook).toBe(0);
    });
  });
});
