/**
 * Cluster names, kept stable across releases because dashboards, LRS reports
 * and the canary controller key on them:
 *
 *   outbound|<port>|<version>|<host>   one cluster per service version
 *   outbound|<port>||<host>            every endpoint of the service (the default route)
 *   inbound|<port>||                   this sidecar's own workload port, on 127.0.0.1
 *
 * The shape follows Istio's, so operators' tooling and habits carry over.
 */
import type { ServiceHost } from '../model/snapshot.js';

export const passthroughClusterName = 'PassthroughCluster';
export const inboundPassthroughClusterName = 'InboundPassthroughCluster';

export function outboundClusterName(port: number, host: ServiceHost, version = ''): string {
  return `outbound|${port}|${version}|${host}`;
}

export function inboundClusterName(port: number): string {
  return `inbound|${port}||`;
}

export interface ParsedClusterName {
  readonly direction: 'outbound' | 'inbound';
  readonly port: number;
  readonly version: string;
  readonly host: string;
}

export function parseClusterName(name: string): ParsedClusterName | undefined {
  const parts = name.split('|');
  if (parts.length !== 4 || (parts[0] !== 'outbound' && parts[0] !== 'inbound')) return undefined;
  const port = Number(parts[1]);
  if (!Number.isInteger(port)) return undefined;
  return { direction: parts[0], port, version: parts[2]!, host: parts[3]! };
}
