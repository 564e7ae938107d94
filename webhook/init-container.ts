/**
 * The `sluice-init` container: programs the pod's network namespace (which
 * every container shares) so that the app's TCP traffic goes through Envoy,
 * the way istio-init does. Rules are generated here as `iptables-restore`
 * input and handed to the container in an env var, so the container command is
 * a fixed one-liner and `kubectl logs -c sluice-init` shows exactly what was applied.
 */
import type { Container } from './kube.js';
import type { InjectionConfig, ProxyPorts, TrafficSettings } from './config.js';
import { DEFAULT_PROXY_PORTS, PROXY_UID } from './config.js';
import { INBOUND_PORT, OUTBOUND_PORT } from './bootstrap.js';

export const INIT_CONTAINER_NAME = 'sluice-init';


/**
 * Rules for the nat table. Inbound: TCP to the pod is redirected to 15006
 * (all ports, or only the listed ones), except the sidecar's own ports and any
 * excluded ones. Outbound: TCP leaving the pod is redirected to 15001, except
 * traffic from the proxy's uid (Envoy's own upstream connections — without
 * this every connection would loop back into Envoy), loopback destinations,
 * and excluded ports and CIDRs.
 */
export interface ProxyIdentity {
  readonly uid: number;
  readonly ports: ProxyPorts;
}

const DEFAULT_PROXY: ProxyIdentity = { uid: PROXY_UID, ports: DEFAULT_PROXY_PORTS };

export function iptablesRules(traffic: TrafficSettings, proxy: ProxyIdentity = DEFAULT_PROXY): string {
  // The kubelet reaches the status port (readiness, rewritten probes) and Prometheus the metrics port directly.
  const sidecarInbound = [proxy.ports.status, proxy.ports.prometheus];
  const lines: string[] = [
    '*nat',
    ':SLUICE_INBOUND - [0:0]',
    ':SLUICE_IN_REDIRECT - [0:0]',
    ':SLUICE_OUTPUT - [0:0]',
    ':SLUICE_REDIRECT - [0:0]',
    `-A SLUICE_IN_REDIRECT -p tcp -j REDIRECT --to-ports ${INBOUND_PORT}`,
    `-A SLUICE_REDIRECT -p tcp -j REDIRECT --to-ports ${OUTBOUND_PORT}`,
  ];

  const inboundRedirects = traffic.includeInboundPorts === '*' || traffic.includeInboundPorts.length > 0;
  if (inboundRedirects) {
    lines.push('-A PREROUTING -p tcp -j SLUICE_INBOUND');
    if (traffic.includeInboundPorts === '*') {
      for (const port of unique([...sidecarInbound, ...traffic.excludeInboundPorts])) {
        lines.push(`-A SLUICE_INBOUND -p tcp --dport ${port} -j RETURN`);
      }
      lines.push('-A SLUICE_INBOUND -p tcp -j SLUICE_IN_REDIRECT');
    } else {
      const excluded = new Set<number>([...sidecarInbound, ...traffic.excludeInboundPorts]);
      for (const port of traffic.includeInboundPorts) {
        if (!excluded.has(port)) lines.push(`-A SLUICE_INBOUND -p tcp --dport ${port} -j SLUICE_IN_REDIRECT`);
      }
    }
  }

  const outboundRedirects = traffic.includeOutboundIPRanges === '*' || traffic.includeOutboundIPRanges.length > 0;
  if (outboundRedirects) {
    lines.push(
      '-A OUTPUT -p tcp -j SLUICE_OUTPUT',
      `-A SLUICE_OUTPUT -m owner --uid-owner ${proxy.uid} -j RETURN`,
      `-A SLUICE_OUTPUT -m owner --gid-owner ${proxy.uid} -j RETURN`,
      '-A SLUICE_OUTPUT -d 127.0.0.1/32 -j RETURN',
    );
    for (const port of traffic.excludeOutboundPorts) lines.push(`-A SLUICE_OUTPUT -p tcp --dport ${port} -j RETURN`);
    for (const cidr of traffic.excludeOutboundIPRanges) lines.push(`-A SLUICE_OUTPUT -d ${cidr} -j RETURN`);
    if (traffic.includeOutboundIPRanges === '*') lines.push('-A SLUICE_OUTPUT -j SLUICE_REDIRECT');
    else for (const cidr of traffic.includeOutboundIPRanges) lines.push(`-A SLUICE_OUTPUT -d ${cidr} -j SLUICE_REDIRECT`);
  }
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/** Print the rules (for `kubectl logs`), apply them without flushing what the CNI may have set, then show the result. */
const INIT_SCRIPT = 'set -e; printf "%s" "$SLUICE_IPTABLES_RULES"; printf "%s" "$SLUICE_IPTABLES_RULES" | iptables-restore --noflush; iptables-save -t nat';

export function buildInitContainer(config: InjectionConfig, traffic: TrafficSettings, proxy: ProxyIdentity = DEFAULT_PROXY): Container {
  return {
    name: INIT_CONTAINER_NAME,
    image: config.init.image,
    imagePullPolicy: config.init.imagePullPolicy,
    command: ['/bin/sh', '-c', INIT_SCRIPT],
    env: [{ name: 'SLUICE_IPTABLES_RULES', value: escapeKubeletReferences(iptablesRules(traffic, proxy)) }],
    resources: resourceBlock(config.init.resources),
    securityContext: {
      // Root with exactly the two capabilities iptables needs, nothing else.
      runAsUser: 0,
      runAsGroup: 0,
      runAsNonRoot: false,
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
    },
  };
}

export function resourceBlock(r: InjectionConfig['proxy']['resources']): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const kind of ['requests', 'limits'] as const) {
    const part: Record<string, string> = {};
    for (const res of ['cpu', 'memory'] as const) {
      const v = r[kind][res];
      if (v !== undefined) part[res] = v;
    }
    if (Object.keys(part).length > 0) out[kind] = part;
  }
  return out;
}

/**
 * The kubelet expands `$(NAME)` in env values, command and args; `$$` is its
 * escape for a literal `$`. Every string we did not mean as a reference goes
 * through this.
 */
export function escapeKubeletReferences(text: string): string {
  return text.replaceAll('$', '$$$$');
}

function unique(values: readonly number[]): number[] {
  return [...new Set(values)];
}
