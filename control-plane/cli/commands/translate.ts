import { Command, Option } from 'commander';
import { formatConfigIssue } from '../../core/errors.js';
import { canonicalJson } from '../../lib/canonical-json.js';
import { modelFromDirectory, proxyFromNode, resourcesForProxy } from '../../pipeline/pipeline.js';
import { resourceKinds, type ResourceKind } from '../../translate/resources.js';
import { clientFeatureWarnings, formatClientFeatureWarning } from '../../translate/client-features.js';

/** `--metadata labels.app=orders` → `{labels: {app: 'orders'}}`; `--metadata mode=proxyless` → `{mode: 'proxyless'}`. */
export function parseMetadata(pairs: readonly string[]): Record<string, unknown> {
  const metadata: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`--metadata ${JSON.stringify(pair)}: expected key=value, e.g. namespace=shop or labels.app=orders`);
    const key = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (key.startsWith('labels.')) {
      const labels = (metadata.labels ??= {}) as Record<string, string>;
      labels[key.slice('labels.'.length)] = value;
    } else {
      metadata[key] = value;
    }
  }
  return metadata;
}

export function registerTranslate(program: Command): void {
  program
    .command('translate')
    .description('Print the Envoy configuration (JSON) a proxy would receive, without running a server (like istioctl proxy-config).')
    .requiredOption('-c, --config <dir>', 'directory of manifests')
    .option('--mesh-namespace <namespace>', 'the namespace whose TelemetryConfig applies to the whole mesh (as sluice serve --mesh-namespace)', 'sluice-system')
    .requiredOption('-p, --proxy <node-id>', 'the proxy\'s node id: <pod-name>.<namespace> for sidecars')
    .option('-m, --metadata <key=value...>', 'node metadata: namespace=shop, mode=sidecar|proxyless|gateway, gateway=<namespace>/<name> (with mode=gateway), workload=orders-v1, labels.app=orders (repeatable)', [])
    .addOption(new Option('-t, --type <type>', 'only this resource type').choices([...resourceKinds]))
    .addHelpText('after', `
Examples:
  sluice translate -c examples -p orders-v1-0.shop -m labels.app=orders -m labels.version=v1 -t routes
  sluice translate -c examples -p checkout -m namespace=payments -m mode=proxyless -t listeners
  sluice translate -c examples -p edge-0.shop -m mode=gateway -m gateway=shop/edge -t routes

Warnings (features a proxy cannot have, such as JSON-body routing for proxyless gRPC) go to stderr.`)
    .action(async (options: { config: string; meshNamespace: string; proxy: string; metadata: string[]; type?: ResourceKind }) => {
      const { result } = await modelFromDirectory(options.config, { meshNamespace: options.meshNamespace });
      if (!result.ok) {
        for (const issue of result.issues) process.stderr.write(`${formatConfigIssue(issue)}\n`);
        process.exitCode = 1;
        return;
      }
      const proxy = proxyFromNode(options.proxy, parseMetadata(options.metadata));
      const resources = resourcesForProxy(result.snapshot, proxy);
      for (const issue of resources.issues) process.stderr.write(`${issue.severity}: ${issue.object ?? issue.resource}: ${issue.message}\n`);
      // What the translator cannot adapt for this kind of proxy (the rest it adapts, and says so above).
      for (const warning of clientFeatureWarnings(result.snapshot)) {
        if (warning.proxies === proxy.mode && warning.code === 'regex-angle-named-group') process.stderr.write(`warning: ${formatClientFeatureWarning(warning)}\n`);
      }
      const output = options.type
        ? resources[options.type].map((r) => r.body)
        : Object.fromEntries(resourceKinds.map((kind) => [kind, resources[kind].map((r) => r.body)]));
      process.stdout.write(`${canonicalJson(output, 2)}\n`);
      if (resources.issues.some((i) => i.severity === 'error')) process.exitCode = 1;
    });
}
