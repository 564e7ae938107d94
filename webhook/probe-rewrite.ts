/**
 * App health probes through the proxy.
 *
 * With inbound capture, the kubelet's probe of an app port would land on the
 * proxy's inbound listener, not on the app: a TCP probe always passes and an
 * HTTP one depends on the mesh's routes. So, like Istio's `/app-health/…`
 * rewrite, each `httpGet` probe of an app container is pointed at the proxy's
 * status port (never captured), on `/app-health/<container>/<livez|readyz|startupz>`.
 *
 * The forwarding is Envoy itself, not an agent: the bootstrap's status
 * listener gets one route per rewritten probe, which swaps the path back to
 * the original one and sends the request to a static cluster on
 * 127.0.0.1:<app port>. The proxy's own connections are exempt from outbound
 * capture (uid rule), so the request reaches the app directly, with the
 * kubelet's headers. No extra process, no extra image.
 *
 * Left as they are (and listed in the status annotation's `probesNotRewritten`):
 * probes with `host` (they target another host), `scheme: HTTPS` (Envoy would
 * need the app's TLS settings), a named port the container does not declare,
 * and `tcpSocket`/`grpc`/`exec` probes.
 */
import { escapeKubeletReferences } from './init-container.js';
import { isObject, type Pod } from './kube.js';
import type { Operation } from './patch.js';

export const APP_HEALTH_PREFIX = '/app-health/';

const PROBE_FIELDS = Object.freeze([
  ['livenessProbe', 'livez'],
  ['readinessProbe', 'readyz'],
  ['startupProbe', 'startupz'],
] as const);

/** One probe to be answered through the proxy. */
export interface AppProbe {
  readonly container: string;
  readonly field: (typeof PROBE_FIELDS)[number][0];
  /** The path the kubelet now calls on the status port. */
  readonly proxyPath: string;
  /** Where the proxy forwards it: the app's port on loopback, and its own path. */
  readonly appPort: number;
  readonly appPath: string;
}

export interface ProbeRewritePlan {
  readonly probes: readonly AppProbe[];
  readonly operations: readonly Operation[];
  /** `<container>/<field>: why`, for probes left alone. */
  readonly notRewritten: readonly string[];
}

/** The cluster of the bootstrap that reaches an app port on loopback. */
export const appProbeClusterName = (port: number) => `sluice-app-health-${port}`;

function resolvePort(port: unknown, containerPorts: unknown): number | undefined {
  if (typeof port === 'number') return Number.isInteger(port) && port >= 1 && port <= 65535 ? port : undefined;
  if (typeof port !== 'string') return undefined;
  if (/^\d+$/.test(port)) return resolvePort(Number(port), containerPorts);
  if (!Array.isArray(containerPorts)) return undefined;
  const named = containerPorts.find((p) => isObject(p) && p.name === port);
  return isObject(named) && typeof named.containerPort === 'number' ? named.containerPort : undefined;
}

/** Which probes of the pod's app containers to rewrite, and the patch that does it. */
export function planProbeRewrites(pod: Pod, statusPort: number): ProbeRewritePlan {
  const probes: AppProbe[] = [];
  const operations: Operation[] = [];
  const notRewritten: string[] = [];
  (pod.spec?.containers ?? []).forEach((container, index) => {
    for (const [field, suffix] of PROBE_FIELDS) {
      const probe = container[field];
      if (!isObject(probe) || !isObject(probe.httpGet)) continue;
      const httpGet = probe.httpGet;
      const where = `${container.name}/${field}`;
      if (typeof httpGet.host === 'string' && httpGet.host !== '') {
        notRewritten.push(`${where}: it names host ${httpGet.host}`);
        continue;
      }
      if (typeof httpGet.scheme === 'string' && httpGet.scheme.toUpperCase() === 'HTTPS') {
        notRewritten.push(`${where}: scheme HTTPS`);
        continue;
      }
      const appPort = resolvePort(httpGet.port, container.ports);
      if (appPort === undefined) {
        notRewritten.push(`${where}: port ${JSON.stringify(httpGet.port)} is not a port of the container`);
        continue;
      }
      const appPath = typeof httpGet.path === 'string' && httpGet.path !== '' ? httpGet.path : '/';
      const proxyPath = `${APP_HEALTH_PREFIX}${container.name}/${suffix}`;
      probes.push({ container: container.name, field, proxyPath, appPort, appPath });
      // Only httpGet changes: the probe's thresholds, timeouts and headers stay the user's.
      const { scheme: _scheme, ...kept } = httpGet;
      operations.push({ op: 'replace', path: `/spec/containers/${index}/${field}/httpGet`, value: { ...kept, path: proxyPath, port: statusPort } });
    }
  });
  return { probes, operations, notRewritten };
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * The status listener's routes for the rewritten probes (before its own
 * readiness route) and the loopback clusters they use, as bootstrap JSON.
 * Strings are escaped for the kubelet: the bootstrap travels in an env var.
 */
export function appProbeBootstrap(probes: readonly AppProbe[]): { routes: Json[]; clusters: Json[] } {
  const routes: Json[] = probes.map((p) => ({
    match: { path: p.proxyPath },
    route: { cluster: appProbeClusterName(p.appPort), prefix_rewrite: escapeKubeletReferences(p.appPath) },
  }));
  const ports = [...new Set(probes.map((p) => p.appPort))].sort((a, b) => a - b);
  const clusters: Json[] = ports.map((port) => ({
    name: appProbeClusterName(port),
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: {
      cluster_name: appProbeClusterName(port),
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }],
    },
  }));
  return { routes, clusters };
}
