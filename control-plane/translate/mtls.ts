/**
 * Mutual TLS between workloads: transport sockets on outbound clusters and
 * the inbound filter chains per PeerAuthentication mode, for sidecars (keys
 * and certificates over SDS) and proxyless gRPC (gRFC A29: the bootstrap's
 * `certificate_providers`, named the same).
 *
 * - PERMISSIVE: the TLS inspector tells the two apart; a TLS chain and a
 *   plaintext chain per port (migration: old callers keep working).
 * - STRICT: only the TLS chain; plaintext on that port matches no chain and
 *   the connection is closed.
 * - DISABLE (or no PeerAuthentication): plaintext, as before.
 * Callers use mTLS towards a destination in PERMISSIVE or STRICT and check
 * that the peer's SPIFFE ID is in the destination's namespace.
 *
 * Secrets are per proxy identity: `default` is the proxy's own certificate
 * and key, `ROOTCA` the mesh's trust bundle. The xDS server answers SDS
 * requests for them from the proxy's authenticated identity, never from the
 * shared per-scope resources.
 */
import { typedAny, type EnvoyJsonTypes } from '../envoy/envoy-types.js';
import { acceptsMutualTls, type MtlsMode, type ServiceSecurity } from '../model/security.js';
import type { ProxyMode } from './proxy-scope.js';
import { adsConfigSource } from './resources.js';

type TransportSocketJson = EnvoyJsonTypes['envoy.config.core.v3.TransportSocket'];
type FilterChainJson = EnvoyJsonTypes['envoy.config.listener.v3.FilterChain'];
type ListenerFilterJson = EnvoyJsonTypes['envoy.config.listener.v3.ListenerFilter'];
type CommonTlsContextJson = EnvoyJsonTypes['envoy.extensions.transport_sockets.tls.v3.CommonTlsContext'];

/** SDS secret and certificate-provider instance names (Istio's, so existing bootstraps and tools fit). */
export const certificateSecretName = 'default';
export const trustBundleSecretName = 'ROOTCA';

const tlsSocketName = 'envoy.transport_sockets.tls';

/** The SAN every certificate of a namespace's workloads carries a prefix of. */
function namespaceSanPrefix(trustDomain: string, namespace: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/`;
}

/** A sidecar's certificate and trust bundle over SDS (ADS); proxyless: the bootstrap's certificate providers. */
function commonTlsContext(mode: ProxyMode, peerSanPrefix: string | undefined, alpn: readonly string[]): CommonTlsContextJson {
  if (mode === 'proxyless') {
    return {
      tls_certificate_provider_instance: { instance_name: certificateSecretName },
      validation_context: {
        ca_certificate_provider_instance: { instance_name: trustBundleSecretName },
        // gRPC reads the (older) untyped SAN matchers, gRFC A29.
        ...(peerSanPrefix ? { match_subject_alt_names: [{ prefix: peerSanPrefix }] } : {}),
      },
    };
  }
  return {
    tls_certificate_sds_secret_configs: [{ name: certificateSecretName, sds_config: adsConfigSource }],
    combined_validation_context: {
      default_validation_context: peerSanPrefix ? { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: peerSanPrefix } }] } : {},
      validation_context_sds_secret_config: { name: trustBundleSecretName, sds_config: adsConfigSource },
    },
    ...(alpn.length > 0 ? { alpn_protocols: [...alpn] } : {}),
  };
}

/**
 * The transport socket of a caller's cluster towards `destination`, or
 * undefined for plaintext (the destination does not accept mTLS).
 */
export function upstreamTransportSocket(destination: { namespace: string; host: string; security?: ServiceSecurity }, mode: ProxyMode, trustDomain: string, http2: boolean): TransportSocketJson | undefined {
  if (!acceptsMutualTls(destination.security)) return undefined;
  const context = commonTlsContext(mode, namespaceSanPrefix(trustDomain, destination.namespace), mode === 'sidecar' && http2 ? ['h2'] : []);
  return {
    name: tlsSocketName,
    typed_config: typedAny('envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', { common_tls_context: context, ...(mode === 'sidecar' ? { sni: destination.host } : {}) }),
  };
}

/** The server side: the workload's own certificate, callers must present one signed by the mesh CA. */
export function downstreamTransportSocket(mode: ProxyMode): TransportSocketJson {
  return {
    name: tlsSocketName,
    typed_config: typedAny('envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext', {
      common_tls_context: commonTlsContext(mode, undefined, mode === 'sidecar' ? ['h2', 'http/1.1'] : []),
      require_client_certificate: true,
    }),
  };
}

/** The listener filter PERMISSIVE needs to tell TLS from plaintext. */
export const tlsInspector: ListenerFilterJson = { name: 'envoy.filters.listener.tls_inspector', typed_config: typedAny('envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector', {}) };

/**
 * A sidecar's inbound chains for one port: `plain` is today's chain (match on
 * the destination port); the mode adds or replaces it with a TLS one.
 */
export function inboundChainsForMode(plain: FilterChainJson, mode: MtlsMode | undefined): FilterChainJson[] {
  if (mode === undefined || mode === 'DISABLE') return [plain];
  const tls: FilterChainJson = {
    ...plain,
    name: `${plain.name}_tls`,
    filter_chain_match: { ...plain.filter_chain_match, transport_protocol: 'tls' },
    transport_socket: downstreamTransportSocket('sidecar'),
  };
  if (mode === 'STRICT') return [tls];
  return [tls, { ...plain, filter_chain_match: { ...plain.filter_chain_match, transport_protocol: 'raw_buffer' } }];
}

/** Whether any of these modes needs the TLS inspector on the listener. */
export function needsTlsInspector(modes: Iterable<MtlsMode | undefined>): boolean {
  for (const mode of modes) if (mode === 'PERMISSIVE' || mode === 'STRICT') return true;
  return false;
}
