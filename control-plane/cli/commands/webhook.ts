import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { rootLogger } from '../../log/logger.js';
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
}

/**
 * `sluice webhook --cert tls.crt --key tls.key [--port 9443] [--config file]`.
 * Without --cert/--key it creates a CA and a serving certificate for
 * <service>.<namespace>.svc and prints the caBundle to paste into the
 * MutatingWebhookConfiguration (they live only as long as the process).
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
    .action(async (opts: WebhookOptions) => {
      if ((opts.cert === undefined) !== (opts.key === undefined)) throw new Error('--cert and --key go together');
      const port = Number(opts.port);
      const maxBodyBytes = Number(opts.maxBodyBytes);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port ${opts.port} is not a port`);
      if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 1024) throw new Error('--max-body-bytes must be a whole number ≥ 1024');
      const maxConcurrent = Number(opts.maxConcurrent);
      if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) throw new Error('--max-concurrent must be a whole number ≥ 1');
      const config = opts.config ? await loadInjectionConfig(opts.config) : DEFAULT_INJECTION_CONFIG;

      let cert: string;
      let key: string;
      if (opts.cert !== undefined && opts.key !== undefined) {
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

      const log = rootLogger().child({ component: 'webhook' });
      const running = await startWebhookServer({ cert, key, config, host: opts.host, port, maxBodyBytes, maxConcurrent, log });
      process.stdout.write(`listening on https://${running.host}:${running.port}\n`);
      const stop = (signal: string) => {
        log.info({ signal }, 'stopping webhook');
        running.close().then(() => process.exit(0), () => process.exit(1));
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
}
