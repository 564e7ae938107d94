/**
 * Injection defaults: what the webhook (`sluice webhook --config`) and
 * `sluice inject --config` use when a pod's annotations say nothing.
 * One YAML file; every field is optional and documented in docs/injection.md.
 */
import { readFile } from 'node:fs/promises';
import type { ControlPlaneTls } from './xds-tls.js';
import { LineCounter, parseDocument, isMap, isSeq, isScalar, type Node as YamlNode } from 'yaml';
import { ConfigError, type ConfigIssue, SluiceError } from '../control-plane/core/errors.js';
import {
  AnnotationError, parseCidrList, parseImage, parseLogLevel, parsePortList, parsePositiveInt, parseProxyPort, parseProxyUid, parseQuantity,
  type CidrSelection, type PortSelection,
} from './annotations.js';

export interface ResourceSettings {
  readonly requests: Readonly<Record<'cpu' | 'memory', string | undefined>>;
  readonly limits: Readonly<Record<'cpu' | 'memory', string | undefined>>;
}

export interface TrafficSettings {
  readonly includeInboundPorts: PortSelection;
  readonly excludeInboundPorts: readonly number[];
  readonly includeOutboundIPRanges: CidrSelection;
  readonly excludeOutboundIPRanges: readonly string[];
  readonly excludeOutboundPorts: readonly number[];
}

export interface InjectionConfig {
  /** `host:port` of the control plane's ADS (and metrics service) endpoint. */
  readonly controlPlaneAddress: string;
  readonly proxy: {
    readonly image: string;
    readonly imagePullPolicy: PullPolicy;
    readonly logLevel: string;
    readonly concurrency: number;
    readonly resources: ResourceSettings;
    /**
     * Put the proxy in initContainers with `restartPolicy: Always` (Kubernetes
     * native sidecars, 1.29+): it starts before the app and does not keep Jobs
     * from completing. Off by default so older clusters keep working.
     */
    readonly nativeSidecar: boolean;
    /** The proxy's uid and gid (the outbound iptables rules exempt it). */
    readonly uid: number;
    readonly ports: ProxyPorts;
    /** Rewrite the app's httpGet probes to go through the proxy's status port (probe-rewrite.ts). */
    readonly rewriteAppProbes: boolean;
    /** Start the app's containers only once the proxy is ready (hold-application.ts). */
    readonly holdApplicationUntilProxyStarts: boolean;
  };
  readonly init: {
    /** Any image with `/bin/sh` and `iptables-restore`. */
    readonly image: string;
    readonly imagePullPolicy: PullPolicy;
    readonly resources: ResourceSettings;
  };
  readonly traffic: TrafficSettings;
  /** Never inject here, whatever the labels say (a guard against a too-wide namespaceSelector). */
  readonly excludeNamespaces: readonly string[];
  /**
   * Proxies reach the control plane over TLS, trusting this CA. Not read from
   * the file: `sluice webhook --xds-tls-secret` sets it from the Secret it keeps.
   */
  readonly controlPlaneTls?: ControlPlaneTls;
}

/**
 * The proxy's own ports. The capture ports (15001 outbound, 15006 inbound)
 * are not here: the control plane serves its listeners on them for every
 * sidecar, so they are fixed on both sides.
 */
export interface ProxyPorts {
  /** Envoy's admin API, on 127.0.0.1 only. */
  readonly admin: number;
  /** Readiness (`/healthz/ready`) and the rewritten app probes (`/app-health/...`). */
  readonly status: number;
  /** `/stats/prometheus`. */
  readonly prometheus: number;
}

export const DEFAULT_PROXY_PORTS: ProxyPorts = Object.freeze({ admin: 15000, status: 15021, prometheus: 15090 });

/** Ports no proxy port may take: the capture listeners served by the control plane. */
export const CAPTURE_PORTS: readonly number[] = Object.freeze([15001, 15006]);

export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';

/** The proxy runs as this uid; the init container's iptables rules let its own traffic out unredirected. */
export const PROXY_UID = 1337;

export const DEFAULT_CONTROL_PLANE_ADDRESS = 'sluice-xds.sluice-system.svc:15010';

export const DEFAULT_INJECTION_CONFIG: InjectionConfig = Object.freeze({
  controlPlaneAddress: DEFAULT_CONTROL_PLANE_ADDRESS,
  proxy: Object.freeze({
    image: 'envoyproxy/envoy:v1.31-latest',
    imagePullPolicy: 'IfNotPresent' as const,
    logLevel: 'info',
    // Envoy defaults to one worker per host core; on large nodes that is dozens of threads per pod.
    concurrency: 2,
    resources: Object.freeze({
      requests: Object.freeze({ cpu: '100m', memory: '128Mi' }),
      limits: Object.freeze({ cpu: '2', memory: '1Gi' }),
    }),
    nativeSidecar: false,
    uid: PROXY_UID,
    ports: DEFAULT_PROXY_PORTS,
    rewriteAppProbes: true,
    holdApplicationUntilProxyStarts: false,
  }),
  init: Object.freeze({
    image: 'ghcr.io/sluice-mesh/sluice-init:0.1.0', // images/init (iptables only)
    imagePullPolicy: 'IfNotPresent' as const,
    resources: Object.freeze({
      requests: Object.freeze({ cpu: '10m', memory: '16Mi' }),
      limits: Object.freeze({ cpu: '100m', memory: '64Mi' }),
    }),
  }),
  traffic: Object.freeze({
    includeInboundPorts: '*' as const,
    excludeInboundPorts: Object.freeze([]),
    includeOutboundIPRanges: '*' as const,
    excludeOutboundIPRanges: Object.freeze([]),
    excludeOutboundPorts: Object.freeze([]),
  }),
  excludeNamespaces: Object.freeze(['kube-system', 'kube-public', 'kube-node-lease', 'sluice-system']),
});

const ADDRESS = /^([a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*|\d{1,3}(\.\d{1,3}){3}):(\d{1,5})$/i;

/** Split and check `host:port`; the host goes into a STRICT_DNS cluster, so it must be a DNS name or IPv4. */
export function parseControlPlaneAddress(address: string): { host: string; port: number } | undefined {
  const m = ADDRESS.exec(address.trim());
  if (!m) return undefined;
  const port = Number(m[6]);
  if (port < 1 || port > 65535) return undefined;
  return { host: m[1]!, port };
}

/** Read and check an injection config file. Unknown fields are errors: a typo must not silently mean "default". */
export async function loadInjectionConfig(file: string): Promise<InjectionConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError([{ code: 'unreadable-file', message: `cannot read injection config: ${(error as Error).message}`, location: { file, line: 1, column: 1 } }]);
  }
  return parseInjectionConfig(text, file);
}

/** The data key read when the config is given as a ConfigMap manifest. */
export const CONFIGMAP_KEY = 'injection-config.yaml';

/**
 * Parse the config: a plain YAML mapping, or a ConfigMap manifest holding it
 * under `data."injection-config.yaml"` — so the file applied to the cluster
 * can be passed to --config as it is.
 */
export function parseInjectionConfig(text: string, file = '<config>', shift = { lines: 0, columns: 0 }): InjectionConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const issues: ConfigIssue[] = [];
  const position = (offset: number) => {
    const pos = lineCounter.linePos(offset);
    return { file, line: pos.line + shift.lines, column: pos.col + shift.columns };
  };
  const at = (node: YamlNode | null | undefined) => position(node?.range?.[0] ?? 0);
  for (const error of doc.errors) {
    issues.push({ code: 'yaml-syntax', message: error.message.split('\n')[0] ?? error.message, location: position(error.pos[0]) });
  }
  if (issues.length > 0) throw new ConfigError(issues);
  if (doc.contents === null) return DEFAULT_INJECTION_CONFIG;
  if (isMap(doc.contents) && doc.get('kind') === 'ConfigMap') {
    const data = doc.getIn(['data', CONFIGMAP_KEY], true) as YamlNode | undefined;
    if (!isScalar(data) || typeof data.value !== 'string') {
      throw new ConfigError([{ code: 'schema', field: `data.${CONFIGMAP_KEY}`, message: `the ConfigMap has no data key ${CONFIGMAP_KEY}`, location: at(doc.contents) }]);
    }
    // A block scalar's content starts on the line after its indicator; its indent is stripped.
    const indicatorLine = lineCounter.linePos(data.range?.[0] ?? 0).line;
    const firstContentLine = text.split('\n').slice(indicatorLine).find((l) => l.trim() !== '') ?? '';
    const indent = firstContentLine.length - firstContentLine.trimStart().length;
    return parseInjectionConfig(data.value, file, { lines: indicatorLine, columns: indent });
  }
  if (!isMap(doc.contents)) throw new ConfigError([{ code: 'not-an-object', message: 'the injection config must be a YAML mapping', location: at(doc.contents) }]);

  const reader = new FieldReader(issues, at);
  const d = DEFAULT_INJECTION_CONFIG;
  const root = reader.object(doc.contents, '', ['controlPlaneAddress', 'proxy', 'init', 'traffic', 'excludeNamespaces']);
  const proxy = reader.object(root.get('proxy'), 'proxy', [
    'image', 'imagePullPolicy', 'logLevel', 'concurrency', 'resources', 'nativeSidecar', 'uid', 'ports', 'rewriteAppProbes', 'holdApplicationUntilProxyStarts',
  ]);
  const ports = reader.object(proxy.get('ports'), 'proxy.ports', ['admin', 'status', 'prometheus']);
  const init = reader.object(root.get('init'), 'init', ['image', 'imagePullPolicy', 'resources']);
  const traffic = reader.object(root.get('traffic'), 'traffic', [
    'includeInboundPorts', 'excludeInboundPorts', 'includeOutboundIPRanges', 'excludeOutboundIPRanges', 'excludeOutboundPorts',
  ]);

  const controlPlaneAddress = reader.value(root.get('controlPlaneAddress'), 'controlPlaneAddress', d.controlPlaneAddress, (v) => {
    if (!parseControlPlaneAddress(v)) throw new Error('must be host:port, e.g. sluice-xds.sluice-system.svc:15010');
    return v.trim();
  });
  const config: InjectionConfig = {
    controlPlaneAddress,
    proxy: {
      image: reader.value(proxy.get('image'), 'proxy.image', d.proxy.image, (v) => parseImage(v, 'proxy.image')),
      imagePullPolicy: reader.value(proxy.get('imagePullPolicy'), 'proxy.imagePullPolicy', d.proxy.imagePullPolicy, pullPolicy),
      logLevel: reader.value(proxy.get('logLevel'), 'proxy.logLevel', d.proxy.logLevel, (v) => parseLogLevel(v, 'proxy.logLevel')),
      concurrency: reader.value(proxy.get('concurrency'), 'proxy.concurrency', d.proxy.concurrency, (v) => parsePositiveInt(v, 'proxy.concurrency', 256)),
      resources: reader.resources(proxy.get('resources'), 'proxy.resources', d.proxy.resources),
      nativeSidecar: reader.value(proxy.get('nativeSidecar'), 'proxy.nativeSidecar', d.proxy.nativeSidecar, boolean),
      uid: reader.value(proxy.get('uid'), 'proxy.uid', d.proxy.uid, (v) => parseProxyUid(v, 'proxy.uid')),
      ports: {
        admin: reader.value(ports.get('admin'), 'proxy.ports.admin', d.proxy.ports.admin, (v) => parseProxyPort(v, 'proxy.ports.admin')),
        status: reader.value(ports.get('status'), 'proxy.ports.status', d.proxy.ports.status, (v) => parseProxyPort(v, 'proxy.ports.status')),
        prometheus: reader.value(ports.get('prometheus'), 'proxy.ports.prometheus', d.proxy.ports.prometheus, (v) => parseProxyPort(v, 'proxy.ports.prometheus')),
      },
      rewriteAppProbes: reader.value(proxy.get('rewriteAppProbes'), 'proxy.rewriteAppProbes', d.proxy.rewriteAppProbes, boolean),
      holdApplicationUntilProxyStarts: reader.value(proxy.get('holdApplicationUntilProxyStarts'), 'proxy.holdApplicationUntilProxyStarts', d.proxy.holdApplicationUntilProxyStarts, boolean),
    },
    init: {
      image: reader.value(init.get('image'), 'init.image', d.init.image, (v) => parseImage(v, 'init.image')),
      imagePullPolicy: reader.value(init.get('imagePullPolicy'), 'init.imagePullPolicy', d.init.imagePullPolicy, pullPolicy),
      resources: reader.resources(init.get('resources'), 'init.resources', d.init.resources),
    },
    traffic: {
      includeInboundPorts: reader.value(traffic.get('includeInboundPorts'), 'traffic.includeInboundPorts', d.traffic.includeInboundPorts, (v) => parsePortList(v, 'traffic.includeInboundPorts', true)),
      excludeInboundPorts: reader.value(traffic.get('excludeInboundPorts'), 'traffic.excludeInboundPorts', d.traffic.excludeInboundPorts, (v) => parsePortList(v, 'traffic.excludeInboundPorts', false) as number[]),
      includeOutboundIPRanges: reader.value(traffic.get('includeOutboundIPRanges'), 'traffic.includeOutboundIPRanges', d.traffic.includeOutboundIPRanges, (v) => parseCidrList(v, 'traffic.includeOutboundIPRanges', true)),
      excludeOutboundIPRanges: reader.value(traffic.get('excludeOutboundIPRanges'), 'traffic.excludeOutboundIPRanges', d.traffic.excludeOutboundIPRanges, (v) => parseCidrList(v, 'traffic.excludeOutboundIPRanges', false) as string[]),
      excludeOutboundPorts: reader.value(traffic.get('excludeOutboundPorts'), 'traffic.excludeOutboundPorts', d.traffic.excludeOutboundPorts, (v) => parsePortList(v, 'traffic.excludeOutboundPorts', false) as number[]),
    },
    excludeNamespaces: reader.stringList(root.get('excludeNamespaces'), 'excludeNamespaces', d.excludeNamespaces),
  };
  const clash = proxyPortsProblem(config.proxy.ports);
  if (clash) issues.push({ code: 'schema', field: 'proxy.ports', message: clash, location: at(proxy.get('ports') ?? doc.contents) });
  if (issues.length > 0) throw new ConfigError(issues);
  return config;
}

/** Two proxy ports on one number, or one on a capture port, would fail only when Envoy starts: say so at once. */
export function proxyPortsProblem(ports: ProxyPorts): string | undefined {
  const named = Object.entries(ports) as Array<[string, number]>;
  for (const [name, port] of named) {
    if (CAPTURE_PORTS.includes(port)) return `${name} port ${port} is a capture port the control plane serves (15001 outbound, 15006 inbound)`;
    const other = named.find(([n, p]) => n !== name && p === port);
    if (other) return `${name} and ${other[0]} ports are both ${port}`;
  }
  return undefined;
}

function pullPolicy(v: string): PullPolicy {
  if (v === 'Always' || v === 'IfNotPresent' || v === 'Never') return v;
  throw new Error('must be Always, IfNotPresent or Never');
}

function boolean(v: string): boolean {
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new Error('must be true or false');
}

type Located = (node: YamlNode | null | undefined) => { file: string; line: number; column: number };

/** Walks the YAML nodes (not plain JS) so every issue carries the line and column of the offending value. */
class FieldReader {
  constructor(private readonly issues: ConfigIssue[], private readonly at: Located) {}

  object(node: unknown, field: string, allowed: readonly string[]): Map<string, YamlNode> {
    const out = new Map<string, YamlNode>();
    if (node === undefined || node === null) return out;
    if (!isMap(node)) {
      this.issues.push({ code: 'schema', field, message: 'must be a mapping', location: this.at(node as YamlNode) });
      return out;
    }
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      if (!allowed.includes(key)) {
        this.issues.push({
          code: 'schema', field: field ? `${field}.${key}` : key,
          message: `unknown field (expected one of: ${allowed.join(', ')})`, location: this.at(pair.key as YamlNode),
        });
        continue;
      }
      out.set(key, pair.value as YamlNode);
    }
    return out;
  }

  /** A scalar (or a list of scalars, joined with commas for the list parsers) run through `parse`. */
  value<T>(node: YamlNode | undefined, field: string, fallback: T, parse: (v: string) => T): T {
    if (node === undefined || node === null || (isScalar(node) && node.value === null)) return fallback;
    let text: string;
    if (isScalar(node)) text = String(node.value);
    else if (isSeq(node) && node.items.every((i) => isScalar(i))) text = node.items.map((i) => String((i as { value: unknown }).value)).join(',');
    else {
      this.issues.push({ code: 'schema', field, message: 'must be a scalar value', location: this.at(node) });
      return fallback;
    }
    try {
      return parse(text);
    } catch (error) {
      const message = error instanceof AnnotationError ? `"${text}" ${error.problem}` : error instanceof Error ? `"${text}": ${error.message}` : String(error);
      this.issues.push({ code: 'schema', field, message, location: this.at(node) });
      return fallback;
    }
  }

  stringList(node: YamlNode | undefined, field: string, fallback: readonly string[]): readonly string[] {
    if (node === undefined || node === null) return fallback;
    if (!isSeq(node) || !node.items.every((i) => isScalar(i) && typeof i.value === 'string')) {
      this.issues.push({ code: 'schema', field, message: 'must be a list of strings', location: this.at(node) });
      return fallback;
    }
    return node.items.map((i) => String((i as { value: unknown }).value));
  }

  resources(node: YamlNode | undefined, field: string, fallback: ResourceSettings): ResourceSettings {
    const top = this.object(node, field, ['requests', 'limits']);
    const part = (name: 'requests' | 'limits') => {
      const m = this.object(top.get(name), `${field}.${name}`, ['cpu', 'memory']);
      const q = (key: 'cpu' | 'memory') => this.value(m.get(key), `${field}.${name}.${key}`, fallback[name][key], (v) => parseQuantity(v, `${field}.${name}.${key}`));
      return { cpu: q('cpu'), memory: q('memory') };
    };
    return { requests: part('requests'), limits: part('limits') };
  }
}

/** A config problem found outside the file (e.g. `--control-plane` flag). */
export class InjectionConfigError extends SluiceError {
  constructor(message: string, context: Record<string, unknown>) {
    super('injection-config-invalid', message, context);
  }
}
