import type { Command } from 'commander';
import { formatConfigIssue } from '../../core/errors.js';
import type { Snapshot } from '../../model/snapshot.js';
import { modelFromDirectory } from '../../pipeline/pipeline.js';
import { clientFeatureWarnings, formatClientFeatureWarning } from '../../translate/client-features.js';

const kindOrder = ['Namespace', 'Service', 'EndpointSlice', 'Pod', 'WorkloadEntry', 'TrafficPolicy', 'Canary', 'TelemetryConfig', 'PeerAuthentication', 'AuthorizationPolicy'];

export function summarize(snapshot: Snapshot): string {
  const counts = Object.entries(snapshot.counts)
    .sort(([a], [b]) => kindOrder.indexOf(a) - kindOrder.indexOf(b))
    .map(([kind, n]) => `${n} ${kind}`);
  const ignored = Object.values(snapshot.ignored).reduce((a, b) => a + b, 0);
  return `${counts.join(', ') || 'no objects'}${ignored ? `; ${ignored} ignored (${Object.keys(snapshot.ignored).sort().join(', ')})` : ''}; snapshot ${snapshot.version}`;
}

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('Check a directory of manifests the way the control plane would, printing every problem (file:line:column, object, field).')
    .argument('<dir>', 'directory of *.yaml / *.yml manifests (searched recursively)')
    .option('-q, --quiet', 'print nothing when valid')
    .option('--mesh-namespace <namespace>', 'the namespace whose TelemetryConfig applies to the whole mesh (as sluice serve --mesh-namespace)', 'sluice-system')
    .addHelpText('after', '\nExit status: 0 when valid, 1 when any problem was found.\n\nExample:\n  sluice validate examples/')
    .action(async (dir: string, options: { quiet?: boolean; meshNamespace: string }) => {
      const { load, result } = await modelFromDirectory(dir, { meshNamespace: options.meshNamespace });
      if (!result.ok) {
        for (const issue of result.issues) process.stdout.write(`${formatConfigIssue(issue)}\n`);
        process.stdout.write(`${dir}: invalid — ${result.issues.length} problem${result.issues.length === 1 ? '' : 's'} in ${load.files} files\n`);
        process.exitCode = 1;
        return;
      }
      for (const warning of result.snapshot.warnings) {
        const where = warning.location ? `${warning.location.file}:${warning.location.line}:${warning.location.column}: ` : '';
        process.stderr.write(`warning: ${where}${warning.object.kind} ${warning.object.namespace}/${warning.object.name}${warning.field ? `: ${warning.field}` : ''}: ${warning.message}\n`);
      }
      // Valid, but not every proxy kind can take it (see the README's client compatibility table).
      for (const warning of clientFeatureWarnings(result.snapshot)) process.stderr.write(`warning: ${formatClientFeatureWarning(warning)}\n`);
      if (!options.quiet) process.stdout.write(`${dir}: valid — ${load.files} files: ${summarize(result.snapshot)}\n`);
    });
}
