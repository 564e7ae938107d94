/**
 * EDS: a ClusterLoadAssignment per EDS cluster, endpoints grouped by zone.
 * Endpoints that are not ready are sent as UNHEALTHY rather than dropped, so
 * Envoy's stats still show them and they return without a cluster rebuild.
 */
import { isIP } from 'node:net';
import type { Endpoint, MeshService, ServicePort } from '../model/snapshot.js';
import { outboundClusterName } from './cluster-names.js';
import { isHttpPort } from './cluster.js';
import { endpointPort } from './pod-address.js';
import type { ProxyMode } from './proxy-scope.js';
import type { ClusterLoadAssignmentJson, EnvoyJsonTypes } from '../envoy/envoy-types.js';
import type { EnvoyResource, TranslationIssue } from './resources.js';

type LbEndpointJson = EnvoyJsonTypes['envoy.config.endpoint.v3.LbEndpoint'];

function loadAssignment(name: string, endpoints: readonly Endpoint[], port: ServicePort): EnvoyResource<ClusterLoadAssignmentJson> {
  const byZone = new Map<string, LbEndpointJson[]>();
  for (const endpoint of endpoints) {
    const portValue = endpointPort(endpoint, port);
    if (portValue === undefined || !isIP(endpoint.address)) continue;
    const lbEndpoint: LbEndpointJson = {
      endpoint: { address: { socket_address: { address: endpoint.address, port_value: portValue } } },
      health_status: endpoint.ready ? 'HEALTHY' : 'UNHEALTHY',
    };
    if (endpoint.weight !== 1) lbEndpoint.load_balancing_weight = endpoint.weight;
    const zone = endpoint.zone ?? '';
    byZone.set(zone, [...(byZone.get(zone) ?? []), lbEndpoint]);
  }
  // gRPC clients ignore localities without a weight; Envoy ignores the weight unless
  // locality-weighted balancing is on, so an equal weight is right for both.
  const localities = [...byZone.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([zone, lbEndpoints]) => ({ ...(zone ? { locality: { zone } } : { locality: {} }), lb_endpoints: lbEndpoints, load_balancing_weight: 1 }));
  return { name, body: { cluster_name: name, endpoints: localities } };
}

export function serviceLoadAssignments(service: MeshService, mode: ProxyMode, issues: TranslationIssue[]): EnvoyResource<ClusterLoadAssignmentJson>[] {
  const assignments: EnvoyResource<ClusterLoadAssignmentJson>[] = [];
  const named = service.endpoints.filter((e) => !isIP(e.address));
  if (named.length > 0) {
    issues.push({
      severity: 'warning',
      object: `Service ${service.namespace}/${service.name}`,
      message: `endpoints with DNS names are not sent over EDS yet (${named.map((e) => e.address).join(', ')}); use IP addresses in WorkloadEntries`,
    });
  }
  for (const port of service.ports) {
    if (!isHttpPort(port) && mode === 'proxyless') continue;
    assignments.push(loadAssignment(outboundClusterName(port.port, service.host), service.endpoints, port));
    for (const version of service.versions.values()) {
      assignments.push(loadAssignment(outboundClusterName(port.port, service.host, version.name), version.endpoints, port));
    }
  }
  return assignments;
}
