import type { Command } from 'commander';

interface SyncRow {
  nodeId: string;
  namespace: string;
  mode: string;
  /** Gateways: the Gateway served, `<namespace>/<name>`. */
  gateway?: string;
  client?: string | null;
  protocol: string;
  snapshot: string | null;
  types: Record<string, { status: string; sent?: string; acked?: string; nackMessage?: string; nackedResources?: string[] | 'wildcard'; resources: number }>;
}

const columns: Array<[string, string]> = [['clusters', 'CDS'], ['listeners', 'LDS'], ['endpoints', 'EDS'], ['routes', 'RDS']];

export function renderStatusTable(rows: SyncRow[]): string {
  const table = [['NAME', 'NAMESPACE', 'MODE', 'PROTOCOL', ...columns.map(([, title]) => title)]];
  for (const row of rows) {
    table.push([row.nodeId, row.namespace, row.gateway ? `gateway ${row.gateway}` : row.mode, row.protocol, ...columns.map(([kind]) => row.types[kind]?.status ?? 'NOT SENT')]);
  }
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  const lines = table.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
  const nacks = rows.flatMap((row) =>
    Object.entries(row.types)
      .filter(([, t]) => t.status === 'NACKED')
      .map(([kind, t]) => `${row.nodeId}${row.client ? ` (${row.client})` : ''} NACKED ${kind}${Array.isArray(t.nackedResources) && t.nackedResources.length ? ` ${t.nackedResources.join(', ')}` : ''}: ${t.nackMessage ?? ''}`),
  );
  const nacking = rows.filter((row) => Object.values(row.types).some((t) => t.status === 'NACKED')).length;
  // The rejections are the point of the command: a count first, then each proxy's error_detail.
  const gateways = [...new Set(rows.filter((row) => row.gateway).map((row) => row.gateway!))].sort();
  const gatewayLine = gateways.length ? `\nGateways served: ${gateways.map((g) => `${g} (${rows.filter((row) => row.gateway === g).length} ${rows.filter((row) => row.gateway === g).length === 1 ? 'proxy' : 'proxies'})`).join(', ')}\n` : '';
  const summary = nacking ? `\n${nacking} of ${rows.length} ${rows.length === 1 ? 'proxy rejects' : 'proxies reject'} the latest configuration (each keeps its last accepted one):\n${nacks.join('\n')}\n` : '';
  return `${lines.join('\n')}\n${gatewayLine}${summary}`;
}

interface GatewayRow {
  gateway: string;
  programmed: boolean;
  listeners: Array<{ name: string; port: number; protocol: string; programmed: boolean; attachedRoutes: number }>;
  proxies: number;
}

/** The Gateways Sluice programs, whether or not a gateway proxy is connected for them. */
export function renderGatewayTable(rows: GatewayRow[]): string {
  if (rows.length === 0) return '';
  const table = [['GATEWAY', 'PROGRAMMED', 'LISTENERS', 'ROUTES', 'PROXIES']];
  for (const row of rows) {
    const listeners = row.listeners.map((l) => (l.programmed ? `${l.name}:${l.port}/${l.protocol}` : `${l.name} (not programmed)`)).join(', ') || '-';
    table.push([row.gateway, row.programmed ? 'True' : 'False', listeners, String(row.listeners.reduce((n, l) => n + l.attachedRoutes, 0)), String(row.proxies)]);
  }
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  return `\n${table.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n')}\n`;
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('Show every connected proxy and whether it has the latest configuration (like istioctl proxy-status).')
    .option('--admin <url>', 'admin address of a running control plane', 'http://127.0.0.1:15014')
    .option('--json', 'print the raw /debug/syncz JSON')
    .addHelpText('after', '\nStatus per type: SYNCED (ACKed the latest), STALE (sent, not yet ACKed), NACKED (rejected; it keeps its last good config), NOT SENT.')
    .action(async (options: { admin: string; json?: boolean }) => {
      const response = await fetch(new URL('/debug/syncz', options.admin)).catch((error: Error) => {
        throw new Error(`cannot reach the control plane at ${options.admin}: ${error.message}`);
      });
      if (!response.ok) throw new Error(`${options.admin}/debug/syncz answered ${response.status}`);
      const rows = (await response.json()) as SyncRow[];
      // A control plane without the edge (older, or no Gateway) answers 404 or []: nothing more to show.
      const gateways = await fetch(new URL('/debug/gateways', options.admin)).then(async (r) => (r.ok ? ((await r.json()) as GatewayRow[]) : []), () => [] as GatewayRow[]);
      process.stdout.write(options.json ? `${JSON.stringify(rows, null, 2)}\n` : `${rows.length ? renderStatusTable(rows) : 'no proxies connected\n'}${renderGatewayTable(gateways)}`);
    });
}
