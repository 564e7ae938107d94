import { describe, expect, it } from 'vitest';
import { reviewAdmission } from '../../webhook/admission.js';
import { DEFAULT_INJECTION_CONFIG, parseInjectionConfig, type InjectionConfig } from '../../webhook/config.js';
import { iptablesRules } from '../../webhook/init-container.js';
import type { Pod } from '../../webhook/kube.js';
import {
  admissionReview, applyPatch, assertValidBootstrap, container, decodePatch, deploymentPod, namedPod, silentLog, startContainer, startedBootstrap,
} from './helpers.js';

function inject(pod: Pod, config: InjectionConfig = DEFAULT_INJECTION_CONFIG, namespace = 'shop'): Pod {
  const { response } = reviewAdmission(admissionReview(pod, { namespace }).request, { config, policy: 'enabled', log: silentLog });
  expect(response.response.allowed).toBe(true);
  expect(response.response.patch, response.response.status?.message).toBeDefined();
  return applyPatch(pod, decodePatch(response.response.patch!));
}

describe('the injected pod', () => {
  it('keeps the app container first and untouched, and adds sluice-init and sluice-proxy', () => {
    const pod = deploymentPod();
    const out = inject(pod);
    expect(out.spec!.containers.map((c) => c.name)).toEqual(['orders', 'sluice-proxy']);
    expect(out.spec!.containers[0]).toEqual(pod.spec!.containers[0]);
    expect(out.spec!.initContainers!.map((c) => c.name)).toEqual(['sluice-init']);
    expect(out.metadata!.annotations!['kubectl.kubernetes.io/default-container']).toBe('orders');
    expect(JSON.parse(out.metadata!.annotations!['sidecar.sluice.dev/status']!)).toMatchObject({ containers: ['sluice-proxy'], initContainers: ['sluice-init'] });
  });

  it('appends after existing init containers and annotations instead of replacing them', () => {
    const pod = namedPod('reports', { annotations: { 'prometheus.io/scrape': 'true' } });
    pod.spec!.initContainers = [{ name: 'migrate', image: 'flyway/flyway:10' }];
    const out = inject(pod);
    expect(out.spec!.initContainers!.map((c) => c.name)).toEqual(['migrate', 'sluice-init']);
    expect(out.metadata!.annotations!['prometheus.io/scrape']).toBe('true');
  });

  it('runs Envoy as uid 1337 with the config defaults, and the init container with only NET_ADMIN/NET_RAW', () => {
    const out = inject(deploymentPod());
    const proxy = container(out, 'sluice-proxy');
    expect(proxy.image).toBe('envoyproxy/envoy:v1.31-latest');
    expect(proxy.securityContext).toMatchObject({ runAsUser: 1337, runAsNonRoot: true, allowPrivilegeEscalation: false });
    expect(proxy.resources).toEqual({ requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '2', memory: '1Gi' } });
    expect(proxy.args).toEqual(expect.arrayContaining(['--log-level', 'info']));
    expect(proxy.ports.map((p: { containerPort: number }) => p.containerPort)).toEqual([15090, 15021]);
    expect(proxy.readinessProbe.httpGet).toEqual({ path: '/healthz/ready', port: 15021 });
    const init = container(out, 'sluice-init');
    expect(init.securityContext.capabilities).toEqual({ add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] });
  });

  it('takes image, log level, resources and concurrency from pod annotations over the config', () => {
    const config = parseInjectionConfig('proxy:\n  logLevel: warning\n  resources:\n    requests: {cpu: 50m}\n');
    const out = inject(deploymentPod({ annotations: {
      'sidecar.sluice.dev/proxyImage': 'registry.carrier.internal/envoy:v1.31.2',
      'sidecar.sluice.dev/logLevel': 'debug',
      'sidecar.sluice.dev/proxyCPU': '250m',
      'sidecar.sluice.dev/proxyMemoryLimit': '512Mi',
      'sidecar.sluice.dev/concurrency': '4',
    } }), config);
    const proxy = container(out, 'sluice-proxy');
    expect(proxy.image).toBe('registry.carrier.internal/envoy:v1.31.2');
    expect(proxy.args).toEqual(expect.arrayContaining(['--log-level', 'debug', '--concurrency', '4']));
    expect(proxy.resources).toEqual({ requests: { cpu: '250m', memory: '128Mi' }, limits: { cpu: '2', memory: '512Mi' } });

    const fromConfig = container(inject(deploymentPod(), config), 'sluice-proxy');
    expect(fromConfig.args).toEqual(expect.arrayContaining(['--log-level', 'warning']));
    expect(fromConfig.resources.requests.cpu).toBe('50m');
  });

  it('puts the proxy in initContainers with restartPolicy Always when native sidecars are configured', () => {
    const out = inject(deploymentPod(), parseInjectionConfig('proxy:\n  nativeSidecar: true\n'));
    expect(out.spec!.containers.map((c) => c.name)).toEqual(['orders']);
    expect(out.spec!.initContainers!.map((c) => c.name)).toEqual(['sluice-init', 'sluice-proxy']);
    expect(container(out, 'sluice-proxy').restartPolicy).toBe('Always');
  });
});

describe('traffic redirection', () => {
  function rulesOf(pod: Pod): string[] {
    const { env } = startContainer(container(pod, 'sluice-init'), { name: 'p', namespace: 'shop' });
    return env.get('SLUICE_IPTABLES_RULES')!.trim().split('\n');
  }

  it('redirects inbound TCP to 15006 and outbound to 15001, letting the proxy uid out first', () => {
    const rules = rulesOf(inject(deploymentPod()));
    expect(rules[0]).toBe('*nat');
    expect(rules.at(-1)).toBe('COMMIT');
    expect(rules).toContain('-A SLUICE_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006');
    expect(rules).toContain('-A SLUICE_REDIRECT -p tcp -j REDIRECT --to-ports 15001');
    const uidReturn = rules.indexOf('-A SLUICE_OUTPUT -m owner --uid-owner 1337 -j RETURN');
    const redirectAll = rules.indexOf('-A SLUICE_OUTPUT -j SLUICE_REDIRECT');
    expect(uidReturn).toBeGreaterThan(0);
    expect(redirectAll).toBeGreaterThan(uidReturn);
    // The sidecar's own ports are reachable without going through the inbound listener.
    expect(rules.indexOf('-A SLUICE_INBOUND -p tcp --dport 15021 -j RETURN')).toBeLessThan(rules.indexOf('-A SLUICE_INBOUND -p tcp -j SLUICE_IN_REDIRECT'));
  });

  it('honours excluded outbound ports and CIDRs and included inbound ports from annotations', () => {
    const rules = rulesOf(inject(deploymentPod({ annotations: {
      'traffic.sluice.dev/includeInboundPorts': '8080, 8443',
      'traffic.sluice.dev/excludeOutboundPorts': '5432,6379',
      'traffic.sluice.dev/excludeOutboundIPRanges': '10.96.0.1,169.254.169.254/32,192.168.0.0/16',
    } })));
    expect(rules).toContain('-A SLUICE_INBOUND -p tcp --dport 8080 -j SLUICE_IN_REDIRECT');
    expect(rules).toContain('-A SLUICE_INBOUND -p tcp --dport 8443 -j SLUICE_IN_REDIRECT');
    expect(rules).not.toContain('-A SLUICE_INBOUND -p tcp -j SLUICE_IN_REDIRECT');
    for (const port of [5432, 6379]) expect(rules).toContain(`-A SLUICE_OUTPUT -p tcp --dport ${port} -j RETURN`);
    for (const cidr of ['10.96.0.1/32', '169.254.169.254/32', '192.168.0.0/16']) expect(rules).toContain(`-A SLUICE_OUTPUT -d ${cidr} -j RETURN`);
    const lastReturn = Math.max(...rules.map((r, i) => (r.endsWith('-j RETURN') && r.startsWith('-A SLUICE_OUTPUT') ? i : -1)));
    expect(rules.indexOf('-A SLUICE_OUTPUT -j SLUICE_REDIRECT')).toBeGreaterThan(lastReturn);
  });

  it('redirects nothing in a direction whose include list is empty', () => {
    const rules = iptablesRules({ ...DEFAULT_INJECTION_CONFIG.traffic, includeInboundPorts: [], includeOutboundIPRanges: ['10.0.0.0/8'] });
    expect(rules).not.toContain('PREROUTING');
    expect(rules).toContain('-A SLUICE_OUTPUT -d 10.0.0.0/8 -j SLUICE_REDIRECT');
    expect(rules).not.toContain('-A SLUICE_OUTPUT -j SLUICE_REDIRECT');
  });
});

describe('the Envoy bootstrap', () => {
  it('gets node id <pod-name>.<namespace> from the downward API for a Deployment pod admitted without a name', () => {
    const out = inject(deploymentPod());
    const bootstrap = startedBootstrap(out, { name: 'orders-7d9f8c6b5-x2x9q', namespace: 'shop' });
    expect(bootstrap.node.id).toBe('orders-7d9f8c6b5-x2x9q.shop');
    expect(bootstrap.node.cluster).toBe('orders.shop');
    expect(bootstrap.node.metadata).toEqual({
      namespace: 'shop',
      labels: { app: 'orders', version: 'v1', 'pod-template-hash': '7d9f8c6b5' },
      workload: 'orders',
      mode: 'sidecar',
    });
  });

  it('points ADS and the metrics-service stats sink at the control plane, admin on loopback', () => {
    const config = parseInjectionConfig('controlPlaneAddress: sluice-xds.mesh.svc.cluster.local:18000\n');
    const b = startedBootstrap(inject(namedPod('web'), config), { name: 'web', namespace: 'shop' });
    expect(b.admin.address.socket_address).toEqual({ address: '127.0.0.1', port_value: 15000 });
    expect(b.dynamic_resources.ads_config).toEqual({
      api_type: 'GRPC',
      transport_api_version: 'V3',
      set_node_on_first_message_only: true,
      grpc_services: [{ envoy_grpc: { cluster_name: 'sluice-xds' } }],
    });
    expect(b.dynamic_resources.lds_config.ads).toEqual({});
    expect(b.dynamic_resources.cds_config.ads).toEqual({});
    const xds = b.static_resources.clusters.find((c: { name: string }) => c.name === 'sluice-xds');
    expect(xds.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address).toEqual({ address: 'sluice-xds.mesh.svc.cluster.local', port_value: 18000 });
    expect(b.stats_sinks).toEqual([{
      name: 'envoy.stat_sinks.metrics_service',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.config.metrics.v3.MetricsServiceConfig',
        transport_api_version: 'V3',
        grpc_service: { envoy_grpc: { cluster_name: 'sluice-xds' } },
      },
    }]);
  });

  it('encodes as envoy.config.bootstrap.v3.Bootstrap and passes its validate rules', () => {
    const b = startedBootstrap(inject(deploymentPod()), { name: 'orders-7d9f8c6b5-x2x9q', namespace: 'shop' });
    expect(assertValidBootstrap(b).length).toBeGreaterThan(500);
  });

  it('is rejected by the validate rules when broken (the check is real)', () => {
    const b = startedBootstrap(inject(deploymentPod()), { name: 'orders-7d9f8c6b5-x2x9q', namespace: 'shop' });
    b.admin.address.socket_address.port_value = 70000;
    let caught: unknown;
    try {
      assertValidBootstrap(b);
    } catch (error) {
      caught = error;
    }
    expect((caught as { context?: { violations?: unknown[] } })?.context?.violations).toContainEqual(
      expect.objectContaining({ field: 'admin.address.socket_address.port_value', rule: 'uint32.lte' }),
    );
  });
});
