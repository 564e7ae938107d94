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
  /** The workload's mTLS mode (its PeerAuthentication), null without one. */
  mtls?: string | null;
  /** The workload certificate last sent over SDS. */
  certificate?: { spiffeId: string; notAfter: string };
  types: Record<string, { status: string; sent?: string; acked?: string; nackMessage?: string; nackedResources?: string[] | 'wildcard'; resources: number }>;
}

const columns: Array<[string, string]> = [['clusters', 'CDS'], ['listeners', 'LDS'], ['endpoints', 'EDS'], ['routes', 'RDS']];

/** "in 11h", "in 4m", "EXPIRED": how long a certificate has left. */
function expiresIn(notAfter: string, now: number): string {
  const ms = Date.parse(notAfter) - now;
  if (!(ms > 0)) return 'EXPIRED';
  const minutes = Math.floor(ms / 60_000);
  return minutes >= 120 ? `in ${Math.floor(minutes / 60)}h` : minutes >= 1 ? `in ${minutes}m` : `in ${Math.ceil(ms / 1000)}s`;
}

export function renderStatusTable(rows: SyncRow[], now = Date.now()): string {
  // mTLS columns only once the mesh uses it, so plaintext meshes keep today's table.
  const security = rows.some((row) => row.mtls || row.certificate);
  const table = [['NAME', 'NAMESPACE', 'MODE', 'PROTOCOL', ...columns.map(([, title]) => title), ...(security ? ['MTLS', 'CERT EXPIRES'] : [])]];
  for (const row of rows) {
    const securityCells = security ? [row.mtls ?? '-', row.certificate ? expiresIn(row.certificate.notAfter, now) : '-'] : [];
    table.push([row.nodeId, row.namespace, row.gateway ? `gateway ${row.gateway}` : row.mode, row.protocol, ...columns.map(([kind]) => row.types[kind]?.status ?? 'NOT SENT'), ...securityCells]);
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
    .addHelpText('after', '\nStatus per type: SYNCED (ACKed the latest), STALE (sent, not yet ACKed), NACKED (rejected; it keeps its last good config), NOT SENT.\nWith mTLS: MTLS is the workload\'s PeerAuthentication mode (- for none: plaintext), CERT EXPIRES when its workload certificate (SDS) expires; renewal comes at half-life.')
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
