import { Command } from 'commander';
import { ControlPlane, type ControlPlaneOptions } from '../../pipeline/control-plane.js';
import { rootLogger } from '../../log/logger.js';
import { clampLrsInterval } from '../../telemetry/load-reporting.js';
import { parseDuration } from '../../lib/duration.js';
import type { ConfigSource } from '../../core/config-source.js';
import { YamlDirectorySource } from '../../sources/yaml-directory.js';
import type { CanaryPersistence } from '../../canary/persistence.js';
import type { CanaryFinisher } from '../../canary/controller.js';
import { CanaryStateFile } from '../../canary/state-file.js';
import { AdminTokenFile, type AdminAuthenticator } from '../../admin/auth.js';
import { wantsCertificateAuthority, workloadIdentityOptions, type IdentityFlags } from './serve-identity.js';
import type { SnapshotStore } from '../../model/store.js';

/** The mesh-CA flags (IdentityFlags: --ca-*, --trust-domain, --xds-client-ca…) and the rest. */
interface ServeOptions extends IdentityFlags {
  config: string;
  meshNamespace: string;
  kubeconfig?: string;
  namespaces?: string;
  gatewayTlsSecrets?: boolean;
  host: string;
  xdsPort: string;
  adminPort: string;
  adminAddress: string;
  adminTokenFile?: string;
  xdsTlsCert?: string;
  xdsTlsKey?: string;
  xdsMaxStreams: string;
  xdsMaxSubscriptions: string;
  debounce: string;
  stateDir?: string;
  prometheusUrl?: string;
  lrsInterval: string;
  meshEjection: boolean;
  ejectionInterval: string;
  ejectionErrorRate: string;
  ejectionMinRequests: string;
  ejectionBase: string;
  ejectionMaxPercent: string;
  allowEmptyConfig?: boolean;
  maxConfigFileMib: string;
  syncTimeout: string;
  advertiseAdminUrl?: string;
}

function duration(flag: string, text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) throw new Error(`${flag} ${JSON.stringify(text)} is not a duration such as 10s`);
  return ms;
}

function number(flag: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < min || value > max) throw new Error(`${flag} ${JSON.stringify(text)} must be a number from ${min} to ${max}`);
  return value;
}

/**
 * The Kubernetes source with a Lease-based leader elector: every replica serves
 * xDS, only the leader writes status and Events (and runs canaries).
 * Loaded only when asked for, so YAML mode does not pay for the Kubernetes client.
 */
/**
 * The admin URL other replicas reach this one at: --advertise-admin-url, else
 * http://$POD_IP:<admin port> in a pod whose admin port is not on loopback only.
 */
function advertisedAdminUrl(options: ServeOptions): string | undefined {
  if (options.advertiseAdminUrl) {
    const url = URL.canParse(options.advertiseAdminUrl) ? new URL(options.advertiseAdminUrl) : undefined;
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw new Error(`--advertise-admin-url ${JSON.stringify(options.advertiseAdminUrl)} is not an http(s) URL`);
    return url.origin;
  }
  const podIp = process.env.POD_IP;
  if (!podIp || options.adminAddress === '127.0.0.1' || options.adminAddress === 'localhost') return undefined;
  return `http://${podIp.includes(':') ? `[${podIp}]` : podIp}:${options.adminPort}`;
}

async function kubernetesSource(options: ServeOptions): Promise<{ source: ConfigSource & { kubeConfig: import('@kubernetes/client-node').KubeConfig }; stop: () => Promise<void>; persistence: CanaryPersistence; isLeader: () => boolean; adminAuth: AdminAuthenticator; followGatewayStatus: (store: SnapshotStore) => void; finisher: CanaryFinisher; replicas: NonNullable<ControlPlaneOptions['replicas']> }> {
  const { kubernetesSource: createKubernetesSource } = await import('../../pipeline/kubernetes-source.js');
  const { LeaderElector } = await import('../../sources/leader-election.js');
  const kubeconfig = options.kubeconfig === 'in-cluster' ? undefined : options.kubeconfig;
  const logger = rootLogger();
  const elector = new LeaderElector({ kubeconfig, logger: logger.child({ component: 'leader-election' }), advertiseAdminUrl: advertisedAdminUrl(options) });
  const source = createKubernetesSource({
    kubeconfig,
    namespaces: options.namespaces?.split(',').map((n) => n.trim()).filter(Boolean),
    logger: logger.child({ component: 'kubernetes' }),
    leader: elector,
    meshNamespace: options.meshNamespace,
    tlsSecrets: options.gatewayTlsSecrets === true,
    syncTimeoutMs: duration('--sync-timeout', options.syncTimeout),
  });
  const { KubernetesCanaryPersistence } = await import('../../canary/kubernetes-persistence.js');
  const persistence = new KubernetesCanaryPersistence({
    kubeConfig: source.kubeConfig,
    statusWriter: source.statusWriter,
    isLeader: () => elector.isLeader(),
    namespaces: options.namespaces?.split(',').map((n) => n.trim()).filter(Boolean),
  });
  const { KubernetesAdminAuthenticator } = await import('../../admin/kubernetes-auth.js');
  const adminAuth = new KubernetesAdminAuthenticator(source.kubeConfig, logger.child({ component: 'admin' }));
  // Gateway API status (Accepted, ResolvedRefs, Programmed) follows the model, written by the leader.
  const { GatewayStatusWriter } = await import('../../sources/kubernetes-gateway-status.js');
  const { followGatewayStatus } = await import('../../pipeline/gateway-status.js');
  const { gatewayControllerName } = await import('../../api/gateway-api-kinds.js');
  const gatewayStatus = new GatewayStatusWriter(source.statusWriter, gatewayControllerName, logger.child({ component: 'gateway-status' }));
  elector.onStartedLeading(() => void gatewayStatus.rewrite());
  const { KubernetesCanaryFinisher } = await import('../../canary/kubernetes-finish.js');
  elector.start();
  const replicas = {
    identity: elector.identity,
    leaderAdminUrl: () => elector.leaderAdminUrl,
    // This replica's own Kubernetes credentials (in a pod: its service account token, re-read as it rotates).
    authorization: async () => ((await source.kubeConfig.applyToFetchOptions({})).headers as unknown as Headers).get('authorization') ?? undefined,
  };
  return {
    source,
    stop: () => elector.stop(),
    persistence,
    isLeader: () => elector.isLeader(),
    adminAuth,
    followGatewayStatus: (store) => void followGatewayStatus(store, gatewayStatus),
    finisher: new KubernetesCanaryFinisher(source.kubeConfig),
    replicas,
  };
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('Run the control plane: watch the configuration, serve xDS (ADS, state of the world and delta) to Envoy sidecars and proxyless gRPC clients, and the admin API.')
    .option('-c, --config <dir>', 'directory of YAML manifests (watched for changes)', 'examples')
    .option('--kubeconfig <file>', 'read the mesh from a Kubernetes cluster instead of --config ("in-cluster" for the pod\'s service account)')
    .option('--namespaces <list>', 'with --kubeconfig: only these namespaces, comma-separated')
    .option('--mesh-namespace <namespace>', 'the namespace whose TelemetryConfig applies to the whole mesh: the control plane\'s own (POD_NAMESPACE), else sluice-system', process.env.POD_NAMESPACE || 'sluice-system')
    .option('--gateway-tls-secrets', 'with --kubeconfig: read Secrets of type kubernetes.io/tls, the certificates of HTTPS Gateway listeners (needs the RBAC in examples/deploy/50-gateway.yaml)')
    .option('--sync-timeout <duration>', 'with --kubeconfig: exit 1 (naming each resource) when the first lists have not all succeeded by then, e.g. CRDs or RBAC missing', '30s')
    .option('--host <address>', 'address to listen on', '0.0.0.0')
    .option('--xds-port <port>', 'xDS gRPC port', '15010')
    .option('--admin-port <port>', 'admin HTTP port (/healthz, /readyz, /metrics, /debug/*, /api/v1/canaries)', '15014')
    .option('--admin-address <address>', 'address of the admin port; 0.0.0.0 opens it to the network (in a pod: for probes and the CLI)', '127.0.0.1')
    .option('--advertise-admin-url <url>', 'with --kubeconfig: the admin URL other replicas reach this one at (written on the Lease while it leads; followers forward canary commands and send telemetry there); default http://$POD_IP:<admin port> when the admin port is not on loopback')
    .option('--admin-token-file <file>', 'YAML mode: state-changing admin requests (canary commands) need "Authorization: Bearer <this file\'s token>"; without it they are refused. With --kubeconfig, Kubernetes RBAC decides instead')
    .option('--xds-tls-cert <file>', 'serve xDS over TLS with this certificate (PEM)')
    .option('--xds-tls-key <file>', 'private key of --xds-tls-cert (PEM)')
    .option('--xds-client-ca <file>', 'require client certificates signed by this CA; a proxy\'s namespace then comes from its SPIFFE ID')
    .option('--trust-domain <domain>', 'SPIFFE trust domain of the mesh: client certificates of another one are refused on xDS', 'cluster.local')
    .option('--ca-dir <dir>', 'mTLS: run the mesh CA with a root kept in this directory (generated on first start), and serve workload certificates over SDS')
    .option('--ca-secret <namespace/name>', 'mTLS, with --kubeconfig: the same with the root kept in this Secret (created once, shared by replicas)')
    .option('--ca-cert <file>', 'mTLS: sign with this intermediate CA certificate instead of a generated root (with --ca-key; --ca-chain for the chain to your root)')
    .option('--ca-key <file>', 'private key of --ca-cert (PKCS#8 PEM, ECDSA P-256)')
    .option('--ca-chain <file>', 'the chain from --ca-cert up to and including the root (PEM)')
    .option('--workload-cert-ttl <duration>', 'lifetime of workload certificates; they are renewed at half-life', '24h')
    .option('--identity-trust-node-metadata', 'DEVELOPMENT ONLY: issue certificates for the service account a proxy names in its node metadata (serviceAccount), without proof')
    .option('--xds-max-streams <n>', 'most xDS (ADS) streams held at once; more are refused with RESOURCE_EXHAUSTED (see docs/limits.md)', '10000')
    .option('--xds-max-subscriptions <n>', 'most resource names one xDS stream may subscribe to, per resource type; a stream asking for more is ended with RESOURCE_EXHAUSTED', '10000')
    .option('--debounce <duration>', 'quiet period before pushing a new snapshot', '100ms')
    .option('--allow-empty-config', 'YAML mode: serve a configuration directory that became empty (by default it is held as suspicious and the last good configuration stays)')
    .option('--max-config-file-mib <n>', 'YAML mode: largest manifest file read, in MiB (larger ones are reported and not read)', '4')
    .option('--state-dir <dir>', 'YAML mode: keep canary progress in <dir>/canaries.json so a restart resumes at the same step (the YAML is never rewritten)')
    .option('--prometheus-url <url>', 'Prometheus for canary metrics with source: prometheus, e.g. http://prometheus:9090')
    .option('--lrs-interval <duration>', 'how often proxies send load reports (LRS); at least 1s, what gRPC C-core clients honour', '1s')
    .option('--no-mesh-ejection', 'turn off mesh-wide ejection of endpoints failing for every proxy')
    .option('--ejection-interval <duration>', 'mesh-wide ejection: how often endpoints are judged, over that window', '10s')
    .option('--ejection-error-rate <share>', 'mesh-wide ejection: error share (0-1) that ejects an endpoint', '0.5')
    .option('--ejection-min-requests <n>', 'mesh-wide ejection: requests an endpoint needs in the window to be judged', '20')
    .option('--ejection-base <duration>', 'mesh-wide ejection: base ejection time, multiplied by the times ejected (a policy\'s outlierDetection.baseEjectionTime wins)', '30s')
    .option('--ejection-max-percent <n>', 'mesh-wide ejection: most endpoints of a service out at once, in percent (at least one; a policy\'s maxEjectionPercent wins)', '10')
    .addHelpText('after', `
Examples:
  sluice serve --config examples
  sluice serve --config examples --admin-token-file ~/.sluice/admin-token   # enables sluice canary promote/abort/pause/resume
  sluice serve --config /etc/sluice --state-dir /var/lib/sluice --prometheus-url http://prometheus:9090
  sluice serve --kubeconfig ~/.kube/config --namespaces shop,gov-portal
  sluice serve --config /etc/sluice --xds-tls-cert tls.crt --xds-tls-key tls.key --xds-client-ca ca.crt

Stop with Ctrl-C (SIGINT) or SIGTERM: streams are ended so proxies reconnect to another replica.`)
    .action(async (options: ServeOptions) => {
      const logger = rootLogger();
      if (Boolean(options.xdsTlsCert) !== Boolean(options.xdsTlsKey)) throw new Error('--xds-tls-cert and --xds-tls-key go together');
      if (options.xdsClientCa && !options.xdsTlsCert) throw new Error('--xds-client-ca needs --xds-tls-cert and --xds-tls-key');
      const debounceMs = parseDuration(options.debounce);
      if (debounceMs === undefined) throw new Error(`--debounce ${JSON.stringify(options.debounce)} is not a duration such as 100ms`);
      if (options.kubeconfig && options.stateDir) throw new Error('--state-dir is for YAML mode; with --kubeconfig canary progress is kept in each Canary\'s status');
      const { intervalMs: lrsReportIntervalMs, clamped: lrsClamped } = clampLrsInterval(duration('--lrs-interval', options.lrsInterval));
      if (lrsClamped) logger.warn({ requested: options.lrsInterval, used: `${lrsReportIntervalMs}ms` }, `--lrs-interval ${options.lrsInterval} is below what gRPC C-core clients honour (one report a second): every client is asked for ${lrsReportIntervalMs}ms`);
      const ejection = options.meshEjection
        ? {
            intervalMs: duration('--ejection-interval', options.ejectionInterval),
            errorRate: number('--ejection-error-rate', options.ejectionErrorRate, 0, 1),
            minRequests: number('--ejection-min-requests', options.ejectionMinRequests, 1, 1e9),
            baseEjectionMs: duration('--ejection-base', options.ejectionBase),
            maxEjectionPercent: number('--ejection-max-percent', options.ejectionMaxPercent, 0, 100),
          }
        : (false as const);
      if (options.kubeconfig && options.adminTokenFile) throw new Error('--admin-token-file is for YAML mode; with --kubeconfig admin commands are authorised by Kubernetes RBAC (TokenReview and SubjectAccessReview)');
      const kubernetes = options.kubeconfig ? await kubernetesSource(options) : undefined;
      const adminAuth = kubernetes?.adminAuth ?? (options.adminTokenFile ? await AdminTokenFile.load(options.adminTokenFile) : undefined);
      const source = kubernetes?.source ?? new YamlDirectorySource({
        directory: options.config,
        logger: logger.child({ component: 'yaml-source' }),
        allowEmpty: options.allowEmptyConfig === true,
        maxFileBytes: Math.round(number('--max-config-file-mib', options.maxConfigFileMib, 0.001, 1024) * 1024 * 1024),
      });
      const workloadIdentity = wantsCertificateAuthority(options) ? await workloadIdentityOptions(options, kubernetes?.source.kubeConfig) : undefined;
      if (workloadIdentity?.verifiers.length === 0) logger.warn('the mesh CA accepts no proof of identity, so no proxy will get a certificate: use --kubeconfig (service-account tokens), --xds-client-ca (xDS client certificates) or, on a laptop only, --identity-trust-node-metadata');
      if (workloadIdentity && options.identityTrustNodeMetadata) logger.warn('--identity-trust-node-metadata: any proxy can get a certificate for any service account of its namespace by naming it; development only');
      if (workloadIdentity) logger.info({ authority: workloadIdentity.authority.toJSON(), proofs: workloadIdentity.verifiers.map((v) => v.description) }, 'mesh CA ready: workload certificates are served over SDS');
      const controlPlane = new ControlPlane({
        ...(workloadIdentity ? { workloadIdentity } : {}),
        source,
        logger,
        host: options.host,
        xdsPort: Number(options.xdsPort),
        adminPort: Number(options.adminPort),
        adminHost: options.adminAddress,
        adminAuth,
        // Re-read every 30 s: a Secret volume's files change in place when the certificate is renewed.
        tls: options.xdsTlsCert ? { certFile: options.xdsTlsCert, keyFile: options.xdsTlsKey!, clientCaFile: options.xdsClientCa, trustDomain: options.trustDomain, reloadIntervalMs: 30_000 } : undefined,
        debounceMs,
        xdsLimits: { maxStreams: number('--xds-max-streams', options.xdsMaxStreams, 1, 1e7), maxSubscriptions: number('--xds-max-subscriptions', options.xdsMaxSubscriptions, 1, 1e7) },
        telemetry: { lrsReportIntervalMs },
        canaryPersistence: kubernetes?.persistence ?? (options.stateDir ? new CanaryStateFile(options.stateDir) : undefined),
        isLeader: kubernetes?.isLeader,
        canaryFinisher: kubernetes?.finisher,
        replicas: kubernetes?.replicas,
        prometheusUrl: options.prometheusUrl,
        ejection,
        meshNamespace: options.meshNamespace,
      });
      kubernetes?.followGatewayStatus(controlPlane.store);
      const ports = await controlPlane.start().catch(async (error: unknown) => {
        // Fail fast: one line naming what failed (file, port), exit 1; never a half-started process.
        await kubernetes?.stop().catch(() => undefined);
        process.stderr.write(`sluice: cannot start: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exit(1);
      });
      process.stderr.write(`sluice: serving xDS on ${options.host}:${ports.xdsPort}, admin on http://${options.adminAddress}:${ports.adminPort} (config: ${source.description})\n`);
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'shutting down');
        void controlPlane
          .stop()
          .then(() => kubernetes?.stop())
          .then(() => process.exit(0));
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
    });
}
