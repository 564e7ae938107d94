/**
 * The injected proxy's connection to the control plane over TLS: the
 * bootstrap's `sluice-xds` cluster gets an UpstreamTlsContext that sends the
 * control-plane host as SNI, trusts only the CA bundle the webhook read from
 * the xDS certificate's Secret (inline: no volume in the pod), and accepts only
 * a certificate naming that host. `sluice webhook --xds-tls-secret` keeps that
 * Secret (CA and serving certificate for the sluice-xds Service, renewed and
 * rotated like the webhook's own) and the control plane serves it.
 *
 * Server authentication only: proxies do not present client certificates
 * here (workload certificates over SDS are a separate piece of work), so
 * `serve` runs without --xds-client-ca in the shipped manifests.
 */
import { escapeKubeletReferences } from './init-container.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export type ControlPlaneTls =
  /** PEM of every CA that may sign the control plane's certificate (current first, then older ones until they expire). */
  | { readonly caPem: string }
  /**
   * A file in the proxy's pod holding that PEM (a gateway Deployment mounts
   * ca.crt of the Secret sluice-xds-tls), for bootstraps written before the
   * CA exists.
   */
  | { readonly caFile: string };

export function xdsTransportSocket(host: string, tls: ControlPlaneTls): { [key: string]: Json } {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      sni: host,
      common_tls_context: {
        // ADS and the metrics service are gRPC: HTTP/2 negotiated by ALPN.
        alpn_protocols: ['h2'],
        validation_context: {
          trusted_ca: 'caPem' in tls ? { inline_string: escapeKubeletReferences(tls.caPem) } : { filename: tls.caFile },
          match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: host } }],
        },
      },
    },
  };
}
