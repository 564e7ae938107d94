/**
 * Which endpoints sit in each (cluster, zone) of a snapshot, the way EDS
 * groups them (control-plane/translate/endpoint.ts). gRPC clients report LRS
 * per locality only, never per endpoint: when a locality of a cluster holds a
 * single endpoint, its numbers are that endpoint's, which is enough for
 * mesh-wide ejection where endpoints are spread over zones.
 */
import { isIP } from 'node:net';
import type { Endpoint, ServicePort, Snapshot } from '../model/snapshot.js';
import { outboundClusterName } from '../translate/cluster-names.js';

export type EndpointKey = string;

export function endpointKey(address: string, port: number): EndpointKey {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

function endpointPort(endpoint: Endpoint, port: ServicePort): number | undefined {
  return endpoint.ports[port.name] ?? (typeof port.targetPort === 'number' ? port.targetPort : undefined);
}

export class LocalityIndex {
  /** cluster name → zone ('' when none) → endpoint keys. */
  readonly #byCluster = new Map<string, Map<string, EndpointKey[]>>();

  constructor(snapshot: Snapshot | undefined) {
    if (!snapshot) return;
    for (const service of snapshot.services.values()) {
      for (const port of service.ports) {
        const groups: Array<[string, readonly Endpoint[]]> = [['', service.endpoints], ...[...service.versions.values()].map((v) => [v.name, v.endpoints] as [string, readonly Endpoint[]])];
        for (const [version, endpoints] of groups) {
          const zones = new Map<string, EndpointKey[]>();
          for (const endpoint of endpoints) {
            const value = endpointPort(endpoint, port);
            if (value === undefined || !isIP(endpoint.address)) continue;
            const zone = endpoint.zone ?? '';
            zones.set(zone, [...(zones.get(zone) ?? []), endpointKey(endpoint.address, value)]);
          }
          this.#byCluster.set(outboundClusterName(port.port, service.host, version), zones);
        }
      }
    }
  }

  /** The one endpoint of a cluster's locality, or undefined when it holds none or several. */
  soleEndpoint(cluster: string, zone: string): EndpointKey | undefined {
    const endpoints = this.#byCluster.get(cluster)?.get(zone);
    return endpoints?.length === 1 ? endpoints[0] : undefined;
  }
}
