/**
 * The observability examples as the tests use them: the rule and scrape files
 * are ConfigMaps (so examples/ stays a loadable manifest directory); these
 * helpers take their data keys out, and list the Grafana dashboards' panel
 * queries with Grafana's variables resolved to "All".
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';

export const observabilityDir = path.resolve('examples/observability');
export const dashboardDir = path.join(observabilityDir, 'grafana');

/** A data key of one of the example ConfigMaps. */
export function configMapData(file: string, key: string): string {
  const manifest = parse(readFileSync(path.join(observabilityDir, file), 'utf8')) as { kind?: string; data?: Record<string, string> };
  const text = manifest.data?.[key];
  if (manifest.kind !== 'ConfigMap' || typeof text !== 'string') throw new Error(`${file} is not a ConfigMap with data key ${key}`);
  return text;
}

export const rulesText = () => configMapData('prometheus-rules.yaml', 'prometheus-rules.yaml');
export const scrapeConfigText = () => configMapData('scrape-config.yaml', 'prometheus.yml');

export interface RecordingRule {
  readonly group: string;
  readonly record: string;
  readonly expr: string;
}

export function recordingRules(): RecordingRule[] {
  const doc = parse(rulesText()) as { groups: Array<{ name: string; rules: Array<{ record?: string; expr: string }> }> };
  return doc.groups.flatMap((g) => g.rules.filter((r) => r.record).map((r) => ({ group: g.name, record: r.record!, expr: r.expr })));
}

export interface PanelQuery {
  readonly dashboard: string;
  readonly panel: string;
  readonly expr: string;
}

/** Grafana's variables as an "All" selection and a 1-minute range would resolve them. */
export function resolveGrafanaVariables(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$__range', '1m')
    .replace(/\$\{?([a-z_]+)\}?/g, (whole, name: string) => (name === 'datasource' ? whole : '.+'));
}

export function dashboards(): Array<{ file: string; json: { uid: string; title: string; panels: Array<{ title: string; type: string; targets?: Array<{ expr: string }> }>; templating: { list: Array<{ name: string; type: string; query?: { query: string } | string }> } } }> {
  return readdirSync(dashboardDir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, json: JSON.parse(readFileSync(path.join(dashboardDir, file), 'utf8')) }));
}

export function panelQueries(): PanelQuery[] {
  return dashboards().flatMap(({ file, json }) => json.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ dashboard: file, panel: p.title, expr: resolveGrafanaVariables(t.expr) }))));
}

export const prometheusBinary = spawnSync('sh', ['-c', 'command -v prometheus'], { encoding: 'utf8' }).stdout.trim();
export const promtoolBinary = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' }).stdout.trim();
export const prometheusMissing = 'the prometheus package is not installed (apt-get install prometheus; .ci/run does it)';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/** A real Prometheus on 127.0.0.1 with a temp data dir; `stop()` kills it and removes the dir. */
export async function startPrometheus(config: (dir: string) => string, files: Record<string, string> = {}): Promise<{ url: string; dir: string; stop(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-obs-prom-'));
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  await writeFile(path.join(dir, 'prometheus.yml'), config(dir));
  const port = await freePort();
  const child: ChildProcess = spawn(prometheusBinary, [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    const ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
    if (ready) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`Prometheus did not become ready: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    dir,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface PromSample {
  readonly metric: Record<string, string>;
  readonly value: number;
}

/** An instant query; throws on a query error (a broken expression fails the test with Prometheus' message). */
export async function instantQuery(url: string, expr: string): Promise<PromSample[]> {
  const response = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: expr })}`);
  const body = (await response.json()) as { status: string; error?: string; data?: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> | [number, string] } };
  if (body.status !== 'success' || !body.data) throw new Error(`Prometheus rejected ${expr}: ${body.error}`);
  if (body.data.resultType === 'scalar') return [{ metric: {}, value: Number((body.data.result as [number, string])[1]) }];
  return (body.data.result as Array<{ metric: Record<string, string>; value: [number, string] }>).map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
}
