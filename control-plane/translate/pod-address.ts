/**
 * Calls addressed to a pod instead of a service name. Spring Cloud services
 * that discover each other through Eureka or Nacos dial the instance's
 * `ip:port` (`Host: 10.1.2.3:8080`); without these names such a call would
 * miss every virtual host and pass through, escaping weights, user-ID routes
 * and canaries. With `podAddressCalls: true` in its policy, each endpoint of a
 * service is therefore also a name of that service: `ip:port` on the port the
 * endpoint listens on (and the bare `ip` on port 80, where clients omit the
 * port). Opt-in, because the addresses make the route table change with every
 * pod added or removed (the table holds every service on the port).
 */
import type { Endpoint, MeshService, ServicePort } from '../model/snapshot.js';

/** Endpoint port → the pod-address domains of this service port's endpoints that listen there. */
export function podAddressDomains(service: MeshService, port: ServicePort): Map<number, string[]> {
  const byPort = new Map<number, string[]>();
  // Only a service whose policy asks for it: each pod added or removed then changes the port's route table.
  if (!service.traffic?.podAddressCalls) return byPort;
  for (const endpoint of service.endpoints) {
    const listening = endpointPort(endpoint, port);
    if (listening === undefined) continue;
    const host = endpoint.address.includes(':') ? `[${endpoint.address}]` : endpoint.address;
    const domains = byPort.get(listening) ?? [];
    domains.push(`${host}:${listening}`);
    if (listening === 80) domains.push(host);
    byPort.set(listening, domains);
  }
  for (const [listening, domains] of byPort) byPort.set(listening, [...new Set(domains)].sort());
  return byPort;
}

export function endpointPort(endpoint: Endpoint, port: ServicePort): number | undefined {
  return endpoint.ports[port.name] ?? (typeof port.targetPort === 'number' ? port.targetPort : undefined);
}
