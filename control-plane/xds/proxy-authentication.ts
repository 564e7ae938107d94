/**
 * Who is on the other end of an xDS stream. With client certificates the
 * namespace comes from the certificate's SPIFFE ID
 * (`spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`), never from
 * what the node metadata claims, so a proxy cannot ask for another
 * namespace's configuration. Without TLS the node's word is taken (local use).
 */
import type { PeerCertificate } from 'node:tls';
import { SluiceError } from '../core/errors.js';
import { defaultTrustDomain } from '../model/security.js';
import { proxyIdentityFromNode, type ProxyIdentity } from '../translate/proxy-scope.js';

export interface SpiffeId {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

export class ProxyAuthenticationError extends SluiceError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super('xds-unauthenticated', message, context);
  }
}

export function parseSpiffeId(uri: string): SpiffeId | undefined {
  const match = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(uri);
  return match ? { trustDomain: match[1]!, namespace: match[2]!, serviceAccount: match[3]! } : undefined;
}

/** The SPIFFE ID among a peer certificate's URI SANs (`subjectaltname: 'URI:spiffe://…, DNS:…'`). */
export function spiffeIdOfCertificate(certificate: PeerCertificate | undefined): SpiffeId | undefined {
  const sans = certificate?.subjectaltname ?? '';
  for (const entry of sans.split(/,\s*/)) {
    if (!entry.startsWith('URI:')) continue;
    const id = parseSpiffeId(entry.slice(4));
    if (id) return id;
  }
  return undefined;
}

export { defaultTrustDomain };

/**
 * The identity to serve. `certificate` is undefined on plaintext streams; when
 * client certificates are required it must carry a SPIFFE ID of `trustDomain`:
 * a CA may sign for several trust domains (a shared corporate root), and an
 * ID from another one says nothing about this mesh's namespaces.
 */
export function authenticateProxy(
  nodeId: string,
  metadata: Record<string, unknown>,
  certificate: PeerCertificate | undefined,
  requireCertificate: boolean,
  trustDomain: string = defaultTrustDomain,
): { identity: ProxyIdentity; overridden?: string } {
  if (!requireCertificate) return { identity: proxyIdentityFromNode(nodeId, metadata) };
  const spiffe = spiffeIdOfCertificate(certificate);
  if (!spiffe) throw new ProxyAuthenticationError(`node ${nodeId}: client certificate has no SPIFFE ID (spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>)`, { nodeId });
  // Trust domains are case-insensitive (SPIFFE ID spec); compare them lower-cased.
  if (spiffe.trustDomain.toLowerCase() !== trustDomain.toLowerCase()) {
    throw new ProxyAuthenticationError(`node ${nodeId}: client certificate's SPIFFE ID is of trust domain ${JSON.stringify(spiffe.trustDomain)}, not this mesh's ${JSON.stringify(trustDomain)} (--trust-domain)`, { nodeId, trustDomain: spiffe.trustDomain, expected: trustDomain });
  }
  const claimed = typeof metadata.namespace === 'string' ? metadata.namespace : undefined;
  const identity = proxyIdentityFromNode(nodeId, { ...metadata, namespace: spiffe.namespace });
  return { identity, overridden: claimed && claimed !== spiffe.namespace ? claimed : undefined };
}
