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
    .action(async (opts: { filename: string; config?: string }) => {
      const config = opts.config ? await loadInjectionConfig(opts.config) : DEFAULT_INJECTION_CONFIG;
      const text = opts.filename === '-' ? await readStdin() : await readFile(opts.filename, 'utf8');
      const result = injectManifests(text, config, opts.filename);
      process.stdout.write(result.output);
      for (const o of result.objects) {
        for (const w of o.warnings) process.stderr.write(`sluice inject: ${o.object}: warning: ${w}\n`);
        if (!o.injected) process.stderr.write(`sluice inject: ${o.object}: not injected: ${o.reason}\n`);
      }
    });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
