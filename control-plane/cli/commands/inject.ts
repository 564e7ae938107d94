import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { DEFAULT_INJECTION_CONFIG, loadInjectionConfig } from '../../../webhook/config.js';
import { injectManifests } from '../../../webhook/workloads.js';

/**
 * `sluice inject -f deployment.yaml [--config injection.yaml]`: the webhook's
 * injection, offline (like `istioctl kube-inject`). The manifest with sidecars
 * goes to stdout; what was skipped, and why, goes to stderr.
 */
export function registerInject(program: Command): void {
  program
    .command('inject')
    .description('Add the Sluice sidecar to Kubernetes manifests, offline (same injection as the webhook)')
    .requiredOption('-f, --filename <file>', 'manifest to inject (multi-document YAML; "-" reads stdin)')
    .option('--config <file>', 'injection defaults (see examples/webhook/injection-config.yaml)')
    .option('--xds-ca-file <file>', 'proxies connect to the control plane over TLS trusting this CA (PEM), e.g. ca.crt of the Secret sluice-xds-tls: kubectl get secret -n sluice-system sluice-xds-tls -o jsonpath=\'{.data.ca\\.crt}\' | base64 -d')
    .action(async (opts: { filename: string; config?: string; xdsCaFile?: string }) => {
      const loaded = opts.config ? await loadInjectionConfig(opts.config) : DEFAULT_INJECTION_CONFIG;
      const config = opts.xdsCaFile ? { ...loaded, controlPlaneTls: await readControlPlaneCa(opts.xdsCaFile) } : loaded;
      const text = opts.filename === '-' ? await readStdin() : await readFile(opts.filename, 'utf8');
      const result = injectManifests(text, config, opts.filename);
      process.stdout.write(result.output);
      for (const o of result.objects) {
        for (const w of o.warnings) process.stderr.write(`sluice inject: ${o.object}: warning: ${w}\n`);
        if (!o.injected) process.stderr.write(`sluice inject: ${o.object}: not injected: ${o.reason}\n`);
      }
    });
}

/** A PEM CA bundle for the bootstraps' TLS to the control plane; refused at once when it holds no certificate. */
export async function readControlPlaneCa(file: string): Promise<{ caPem: string }> {
  const caPem = await readFile(file, 'utf8').catch((error: Error) => {
    throw new Error(`cannot read --xds-ca-file ${file}: ${error.message}`);
  });
  if (!/-----BEGIN CERTIFICATE-----/.test(caPem)) throw new Error(`--xds-ca-file ${file} holds no PEM certificate`);
  return { caPem };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
