/**
 * The pod labels and annotations the injector reads and writes, and the
 * parsers for their values. Names follow Istio's layout (`sluice.dev/inject`
 * ≈ `sidecar.istio.io/inject`, `traffic.sluice.dev/*` ≈ `traffic.sidecar.istio.io/*`)
 * so a team moving from Istio finds them where it expects.
 */
import { isIPv4 } from 'node:net';
import { SluiceError } from '../control-plane/core/errors.js';

/** Namespace label (selects the namespace) and pod label/annotation (per-pod override). */
export const INJECT = 'sluice.dev/inject';

export const ANNOTATIONS = Object.freeze({
  proxyImage: 'sidecar.sluice.dev/proxyImage',
  logLevel: 'sidecar.sluice.dev/logLevel',
  proxyCPU: 'sidecar.sluice.dev/proxyCPU',
  proxyMemory: 'sidecar.sluice.dev/proxyMemory',
  proxyCPULimit: 'sidecar.sluice.dev/proxyCPULimit',
  proxyMemoryLimit: 'sidecar.sluice.dev/proxyMemoryLimit',
  concurrency: 'sidecar.sluice.dev/concurrency',
  includeInboundPorts: 'traffic.sluice.dev/includeInboundPorts',
  excludeInboundPorts: 'traffic.sluice.dev/excludeInboundPorts',
  includeOutboundIPRanges: 'traffic.sluice.dev/includeOutboundIPRanges',
  excludeOutboundIPRanges: 'traffic.sluice.dev/excludeOutboundIPRanges',
  excludeOutboundPorts: 'traffic.sluice.dev/excludeOutboundPorts',
  /** The proxy's uid (and gid): the outbound rules let its traffic out unredirected. */
  proxyUID: 'sidecar.sluice.dev/proxyUID',
  /** The proxy's own ports (Envoy admin on loopback, readiness + rewritten probes, Prometheus). */
  adminPort: 'sidecar.sluice.dev/adminPort',
  statusPort: 'sidecar.sluice.dev/statusPort',
  prometheusPort: 'sidecar.sluice.dev/prometheusPort',
  /** `true`/`false`: send the app's httpGet probes through the proxy's status port (probe-rewrite.ts). */
  rewriteAppProbes: 'sidecar.sluice.dev/rewriteAppProbes',
  /** `true`/`false`: the app's containers start only once the proxy is ready (hold-application.ts). */
  holdApplicationUntilProxyStarts: 'sidecar.sluice.dev/holdApplicationUntilProxyStarts',
  /** Written by the injector: what it added. Its presence makes injection idempotent. */
  status: 'sidecar.sluice.dev/status',
});

/** kubectl picks this container for `logs`/`exec` when none is named; we point it at the app, not the proxy. */
export const DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container';

/** A pod annotation (or label) whose value cannot be used. Rejects the pod with a message naming it. */
export class AnnotationError extends SluiceError {
  readonly problem: string;

  constructor(annotation: string, value: string, problem: string) {
    // Long values are quoted by their start only, so the rejection kubectl shows stays readable.
    const shown = value.length > 80 ? `${value.slice(0, 60)}… (${value.length} characters)` : value;
    super('injection-bad-annotation', `annotation ${annotation}: "${shown}" ${problem}`, { annotation, value: shown });
    this.problem = problem;
  }
}

/** `"*"` means every port / every address; otherwise an explicit list. */
export type PortSelection = '*' | readonly number[];
export type CidrSelection = '*' | readonly string[];

/**
 * Most entries one port or CIDR list may hold. Each entry becomes an iptables
 * rule in an env var of the init container; a thousand is far beyond any real
 * exclusion list and keeps the pod spec, the rule set and the review's work small.
 */
export const MAX_LIST_ENTRIES = 1000;

/**
 * Split a comma-separated list, refusing it before any per-entry work when it
 * has more than MAX_LIST_ENTRIES entries (counting commas is linear and cheap).
 */
function listEntries(value: string, where: string, what: string): string[] {
  let commas = 0;
  for (let i = value.indexOf(','); i >= 0 && commas < MAX_LIST_ENTRIES; i = value.indexOf(',', i + 1)) commas++;
  if (commas >= MAX_LIST_ENTRIES) {
    throw new AnnotationError(where, value, `has more than ${MAX_LIST_ENTRIES} ${what}; use wider ranges or fewer entries`);
  }
  return value.split(',').map((part) => part.trim());
}

export function parsePortList(value: string, where: string, allowWildcard: boolean): PortSelection {
  const trimmed = value.trim();
  if (allowWildcard && trimmed === '*') return '*';
  if (trimmed === '') return [];
  // A Set keeps first-seen order and makes de-duplication linear.
  const ports = new Set<number>();
  for (const p of listEntries(trimmed, where, 'ports')) {
    if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535) {
      throw new AnnotationError(where, value, `is not ${allowWildcard ? '"*" or ' : ''}a comma-separated list of ports (1-65535)`);
    }
    ports.add(Number(p));
  }
  return [...ports];
}

/**
 * IPv4 CIDRs only: the init container programs iptables (IPv4). Accepting an
 * IPv6 range here would only fail later, at pod start, inside iptables-restore.
 */
export function parseCidrList(value: string, where: string, allowWildcard: boolean): CidrSelection {
  const trimmed = value.trim();
  if (allowWildcard && trimmed === '*') return '*';
  if (trimmed === '') return [];
  const cidrs = new Set<string>();
  for (const c of listEntries(trimmed, where, 'CIDRs')) {
    const [ip, bits, ...rest] = c.split('/');
    const okBits = bits === undefined || (/^\d{1,2}$/.test(bits) && Number(bits) <= 32);
    if (rest.length > 0 || ip === undefined || !isIPv4(ip) || !okBits) {
      const problem = c.includes(':') ? 'contains an IPv6 range; only IPv4 CIDRs are supported' : 'is not a comma-separated list of IPv4 CIDRs (e.g. 10.0.0.0/8,169.254.169.254)';
      throw new AnnotationError(where, value, problem);
    }
    cidrs.add(bits === undefined ? `${ip}/32` : `${ip}/${Number(bits)}`);
  }
  return [...cidrs];
}

/** Kubernetes resource.Quantity, e.g. `100m`, `0.5`, `128Mi`, `1e3`. */
const QUANTITY = /^(\d+(\.\d*)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][-+]?\d+)?$/;

export function parseQuantity(value: string, where: string): string {
  const v = value.trim();
  if (!QUANTITY.test(v)) throw new AnnotationError(where, value, 'is not a Kubernetes quantity (e.g. 100m, 0.5, 128Mi)');
  return v;
}

/** Envoy's `--log-level` values. */
export const ENVOY_LOG_LEVELS = Object.freeze(['trace', 'debug', 'info', 'warning', 'warn', 'error', 'critical', 'off']);

export function parseLogLevel(value: string, where: string): string {
  const v = value.trim().toLowerCase();
  if (!ENVOY_LOG_LEVELS.includes(v)) throw new AnnotationError(where, value, `is not an Envoy log level (${ENVOY_LOG_LEVELS.join(', ')})`);
  return v;
}

export function parsePositiveInt(value: string, where: string, max: number): number {
  const v = value.trim();
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > max) throw new AnnotationError(where, value, `is not a whole number from 1 to ${max}`);
  return Number(v);
}

/**
 * A container image reference: `[registry/]repo[:tag][@digest]`. Only the
 * shape is checked — enough to catch a pasted YAML fragment or spaces.
 */
export function parseImage(value: string, where: string): string {
  const v = value.trim();
  if (!/^[a-z0-9][a-z0-9._\-/:]*(@sha256:[a-f0-9]{64})?$/i.test(v) || v.length > 512) {
    throw new AnnotationError(where, value, 'is not a container image reference');
  }
  return v;
}

/** A strict `true`/`false` annotation (a typo must not silently mean the default). */
export function parseBoolean(value: string, where: string): boolean {
  const v = value.trim().toLowerCase();
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new AnnotationError(where, value, 'is not true or false');
}

/** A port the proxy listens on: not a privileged port (the proxy is not root). */
export function parseProxyPort(value: string, where: string): number {
  const v = value.trim();
  if (!/^\d{1,5}$/.test(v) || Number(v) < 1024 || Number(v) > 65535) throw new AnnotationError(where, value, 'is not a port from 1024 to 65535');
  return Number(v);
}

/** A uid for the proxy: never root (0), within the 32-bit range Linux accepts. */
export function parseProxyUid(value: string, where: string): number {
  const v = value.trim();
  if (!/^\d{1,10}$/.test(v) || Number(v) < 1 || Number(v) > 2147483647) throw new AnnotationError(where, value, 'is not a non-root uid (1 to 2147483647)');
  return Number(v);
}

/** `true`/`false` (and Istio-style `enabled`/`disabled`); anything else is "not said". */
export function parseInjectFlag(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  const v = value.trim().toLowerCase();
  if (v === 'true' || v === 'enabled') return true;
  if (v === 'false' || v === 'disabled') return false;
  return undefined;
}
