import { Command } from 'commander';
import { ControlPlane } from '../../control-plane.js';
import { rootLogger } from '../../log/logger.js';
import { parseDuration } from '../../model/duration.js';
import { YamlDirectorySource, type ConfigSource } from '../../sources/yaml-directory.js';

interface ServeOptions {
  config: string;
  kubeconfig?: string;
  namespaces?: string;
  host: string;
  xdsPort: string;
  adminPort: string;
  xdsTlsCert?: string;
  xdsTlsKey?: string;
  xdsClientCa?: string;
  debounce: string;
}

/**
 * The Kubernetes source with a Lease-based leader elector: every replica serves
 * xDS, only the leader writes status and Events (and runs canaries).
 * Loaded only when asked for, so YAML mode does not pay for the Kubernetes client.
 */
async function kubernetesSource(options: ServeOptions): Promise<{ source: ConfigSource; stop: () => Promise<void> }> {
  const { createKubernetesSource } = await import('../../sources/kubernetes.js');
  const { LeaderElector } = await import('../../sources/leader-election.js');
  const kubeconfig = options.kubeconfig === 'in-cluster' ? undefined : options.kubeconfig;
  const logger = rootLogger();
  const elector = new LeaderElector({ kubeconfig, logger: logger.child({ component: 'leader-election' }) });
  const source = createKubernetesSource({
    kubeconfig,
    namespaces: options.namespaces?.split(',').map((n) => n.trim()).filter(Boolean),
    logger: logger.child({ component: 'kubernetes' }),
    leader: elector,
  });
  elector.start();
  return { source, stop: () => elector.stop() };
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('Run the control plane: watch the configuration, serve xDS (ADS, state of the world and delta) to Envoy sidecars and proxyless gRPC clients, and the admin API.')
    .option('-c, --config <dir>', 'directory of YAML manifests (watched for changes)', 'examples')
    .option('--kubeconfig <file>', 'read the mesh from a Kubernetes cluster instead of --config ("in-cluster" for the pod\'s service account)')
    .option('--namespaces <list>', 'with --kubeconfig: only these namespaces, comma-separated')
    .option('--host <address>', 'address to listen on', '0.0.0.0')
    .option('--xds-port <port>', 'xDS gRPC port', '15010')
    .option('--admin-port <port>', 'admin HTTP port (/healthz, /readyz, /metrics, /debug/*)', '15014')
    .option('--xds-tls-cert <file>', 'serve xDS over TLS with this certificate (PEM)')
    .option('--xds-tls-key <file>', 'private key of --xds-tls-cert (PEM)')
    .option('--xds-client-ca <file>', 'require client certificates signed by this CA; a proxy\'s namespace then comes from its SPIFFE ID')
    .option('--debounce <duration>', 'quiet period before pushing a new snapshot', '100ms')
    .addHelpText('after', `
Examples:
  sluice serve --config examples
  sluice serve --kubeconfig ~/.kube/config --namespaces shop,gov-portal
  sluice serve --config /etc/sluice --xds-tls-cert tls.crt --xds-tls-key tls.key --xds-client-ca ca.crt

Stop with Ctrl-C (SIGINT) or SIGTERM: streams are ended so proxies reconnect to another replica.`)
    .action(async (options: ServeOptions) => {
      const logger = rootLogger();
      if (Boolean(options.xdsTlsCert) !== Boolean(options.xdsTlsKey)) throw new Error('--xds-tls-cert and --xds-tls-key go together');
      if (options.xdsClientCa && !options.xdsTlsCert) throw new Error('--xds-client-ca needs --xds-tls-cert and --xds-tls-key');
      const debounceMs = parseDuration(options.debounce);
      if (debounceMs === undefined) throw new Error(`--debounce ${JSON.stringify(options.debounce)} is not a duration such as 100ms`);
      const kubernetes = options.kubeconfig ? await kubernetesSource(options) : undefined;
      const source = kubernetes?.source ?? new YamlDirectorySource({ directory: options.config, logger: logger.child({ component: 'yaml-source' }) });
      const controlPlane = new ControlPlane({
        source,
        logger,
        host: options.host,
        xdsPort: Number(options.xdsPort),
        adminPort: Number(options.adminPort),
        tls: options.xdsTlsCert ? { certFile: options.xdsTlsCert, keyFile: options.xdsTlsKey!, clientCaFile: options.xdsClientCa } : undefined,
        debounceMs,
      });
      const ports = await controlPlane.start();
      process.stderr.write(`sluice: serving xDS on ${options.host}:${ports.xdsPort}, admin on http://${options.host}:${ports.adminPort} (config: ${source.description})\n`);
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
