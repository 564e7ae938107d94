import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { rootLogger } from '../../log/logger.js';
import { parseDuration } from '../../lib/duration.js';
import { DEFAULT_INJECTION_CONFIG, loadInjectionConfig } from '../../../webhook/config.js';
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CONCURRENT, startWebhookServer } from '../../../webhook/server.js';

interface WebhookOptions {
  cert?: string;
  key?: string;
  port: string;
  host: string;
  config?: string;
  service: string;
  namespace: string;
  maxBodyBytes: string;
  maxConcurrent: string;
  kubeconfig?: string;
  tlsSecret: string;
  webhookConfiguration: string;
  certCheckInterval: string;
  xdsTlsSecret?: string;
  xdsService: string;
}

/**
 * `sluice webhook --cert tls.crt --key tls.key [--port 9443] [--config file]`.
 * Without --cert/--key it creates a CA and a serving certificate for
 * <service>.<namespace>.svc and prints the caBundle to paste into the
 * MutatingWebhookConfiguration (they live only as long as the process).
 * With --kubeconfig it keeps them in the Secret --tls-secret, renews them and
 * patches caBundle itself (webhook/ca-bundle.ts), as in examples/deploy.
 */
export function registerWebhook(program: Command): void {
  program
    .command('webhook')
    .description('Run the sidecar-injection admission webhook (HTTPS)')
    .option('--cert <file>', 'PEM serving certificate (with --key); omit both for a generated self-signed CA')
    .option('--key <file>', 'PEM private key for --cert')
    .option('--port <port>', 'port to listen on (0: any free port)', '9443')
    .option('--host <address>', 'address to listen on', '0.0.0.0')
    .option('--config <file>', 'injection defaults (see examples/webhook/injection-config.yaml)')
    .option('--service <name>', 'Service name the API server dials (for the generated certificate)', 'sluice-webhook')
    .option('--namespace <name>', 'namespace of that Service (for the generated certificate)', 'sluice-system')
    .option('--max-body-bytes <n>', 'largest AdmissionReview accepted (larger: 413)', String(DEFAULT_MAX_BODY_BYTES))
    .option('--max-concurrent <n>', 'admission requests answered at once (more: 429); memory stays below this × --max-body-bytes', String(DEFAULT_MAX_CONCURRENT))
    .option('--kubeconfig <file>', 'manage the certificate in the cluster ("in-cluster": the pod\'s service account): Secret --tls-secret, caBundle of --webhook-configuration')
    .option('--tls-secret <name>', 'with --kubeconfig: Secret (in --namespace) holding the CA and serving certificate', 'sluice-webhook-tls')
    .option('--webhook-configuration <name>', 'with --kubeconfig: MutatingWebhookConfiguration whose caBundle is kept current', 'sluice-sidecar-injector')
    .option('--xds-tls-secret <name>', 'with --kubeconfig: also keep a CA and a serving certificate for --xds-service in this Secret (mounted by `sluice serve` for xDS over TLS), and make injected proxies connect over TLS trusting that CA')
    .option('--xds-service <name>', 'with --xds-tls-secret: the control plane\'s xDS Service (its certificate names <service>.<namespace>.svc)', 'sluice-xds')
    .option('--cert-check-interval <duration>', 'with --kubeconfig: how often the Secret and caBundle are reconciled', '1m')
    .action(async (opts: WebhookOptions) => {
      if ((opts.cert === undefined) !== (opts.key === undefined)) throw new Error('--cert and --key go together');
      const port = Number(opts.port);
      const maxBodyBytes = Number(opts.maxBodyBytes);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port ${opts.port} is not a port`);
      if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 1024) throw new Error('--max-body-bytes must be a whole number ≥ 1024');
      const maxConcurrent = Number(opts.maxConcurrent);
      if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) throw new Error('--max-concurrent must be a whole number ≥ 1');
      let config = opts.config ? await loadInjectionConfig(opts.config) : DEFAULT_INJECTION_CONFIG;
      if (opts.xdsTlsSecret !== undefined && opts.kubeconfig === undefined) throw new Error('--xds-tls-secret needs --kubeconfig (the Secret is kept in the cluster)');

      if (opts.kubeconfig !== undefined && opts.cert !== undefined) throw new Error('--kubeconfig manages the certificate; leave out --cert/--key');
      const log = rootLogger().child({ component: 'webhook' });
      let cert: string;
      let key: string;
      let managed: { manager: import('../../../webhook/ca-bundle.js').WebhookCertificateManager; version: string; intervalMs: number } | undefined;
      let xdsManaged: (NonNullable<typeof managed> & { trust: (m: { caBundlePem: string }) => void }) | undefined;
      if (opts.kubeconfig !== undefined) {
        const intervalMs = parseDuration(opts.certCheckInterval);
        if (intervalMs === undefined || intervalMs < 1000) throw new Error(`--cert-check-interval ${opts.certCheckInterval} is not a duration of 1s or more`);
        const { WebhookCertificateManager } = await import('../../../webhook/ca-bundle.js');
        const { loadKubeConfig } = await import('../../sources/kubernetes-informers.js');
        const manager = new WebhookCertificateManager({
          kubeConfig: loadKubeConfig(opts.kubeconfig === 'in-cluster' ? undefined : opts.kubeconfig),
          namespace: opts.namespace,
          secretName: opts.tlsSecret,
          service: opts.service,
          webhookConfiguration: opts.webhookConfiguration,
          log: log.child({ component: 'webhook-certificate' }),
        });
        const material = await manager.reconcile(() => undefined);
        ({ certPem: cert, keyPem: key } = material);
        managed = { manager, version: material.version, intervalMs };
        if (opts.xdsTlsSecret !== undefined) {
          // The control plane's xDS certificate: same machinery, no caBundle to patch; its CA goes into every bootstrap.
          const xds = new WebhookCertificateManager({
            kubeConfig: loadKubeConfig(opts.kubeconfig === 'in-cluster' ? undefined : opts.kubeconfig),
            namespace: opts.namespace,
            secretName: opts.xdsTlsSecret,
            service: opts.xdsService,
            log: log.child({ component: 'xds-certificate' }),
          });
          const trust = (m: { caBundlePem: string }) => {
            config = { ...config, controlPlaneTls: { caPem: m.caBundlePem } };
          };
          const xdsMaterial = await xds.reconcile(trust);
          xdsManaged = { manager: xds, version: xdsMaterial.version, intervalMs, trust };
        }
      } else if (opts.cert !== undefined && opts.key !== undefined) {
        [cert, key] = await Promise.all([readFile(opts.cert, 'utf8'), readFile(opts.key, 'utf8')]);
      } else {
        // Loaded only here: the X.509 library is heavy and every other command starts without it.
        const { generateServingCertificates, serviceDnsNames } = await import('../../../webhook/certificates.js');
        const generated = await generateServingCertificates({
          dnsNames: [...serviceDnsNames(opts.service, opts.namespace), 'localhost'],
          ipAddresses: ['127.0.0.1'],
        });
        cert = generated.certPem;
        key = generated.keyPem;
        process.stdout.write(`caBundle: ${generated.caBundle}\n`);
      }

      const running = await startWebhookServer({ cert, key, config: () => config, host: opts.host, port, maxBodyBytes, maxConcurrent, log });
      process.stdout.write(`listening on https://${running.host}:${running.port}\n`);
      // A renewed or rotated certificate is served to new connections without a restart.
      managed?.manager.start((m) => running.server.setSecureContext({ cert: m.certPem, key: m.keyPem, minVersion: 'TLSv1.2' }), managed.intervalMs, managed.version);
      // A rotated xDS CA reaches the bootstraps of pods admitted from then on (the old CA stays in the bundle until it expires).
      xdsManaged?.manager.start(xdsManaged.trust, xdsManaged.intervalMs, xdsManaged.version);
      const stop = (signal: string) => {
        log.info({ signal }, 'stopping webhook');
        Promise.all([managed?.manager.stop(), xdsManaged?.manager.stop(), running.close()]).then(() => process.exit(0), () => process.exit(1));
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
}
