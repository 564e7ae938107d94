/**
 * The webhook load scenario of webhook-admission.k6.js, in Node, for machines
 * without k6: a constant arrival rate of AdmissionReviews (open loop — a slow
 * answer does not slow the sender, as with the API server) over HTTPS
 * keep-alive, every answer checked, latency percentiles printed.
 *
 *   npx tsx test/load/webhook-admission.driver.ts [--rate 200] [--duration 30] [--url https://host:port --ca ca.pem]
 *   npx tsx test/load/webhook-admission.driver.ts --write-requests   # regenerate the shared request mix
 *
 * Without --url it starts `sluice webhook` (self-signed) in a child process.
 * Exits 1 when a check fails or p99 exceeds --p99-ms (default 5).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import https from 'node:https';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { admissionReview, deploymentPod, namedPod } from '../webhook/helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
export const REQUESTS_FILE = path.join(here, 'webhook-admission.requests.json');
const UID_PLACEHOLDER = '00000000-0000-0000-0000-000000000000';

/** One kind of request in the mix; `weight` out of the total. Shared with the k6 script through REQUESTS_FILE. */
export interface MixEntry {
  readonly name: string;
  readonly weight: number;
  readonly path: string;
  readonly body: string;
  /** Whether the answer must carry a patch. */
  readonly patched: boolean;
}

/** What a busy meshed cluster sends: mostly Deployment pods, some opt-outs, re-admissions and opt-ins. */
export function buildMix(): MixEntry[] {
  const body = (pod: ReturnType<typeof deploymentPod>, namespace = 'shop') =>
    JSON.stringify(admissionReview(pod, { namespace, uid: UID_PLACEHOLDER }));
  const annotated = deploymentPod({ annotations: {
    'sidecar.sluice.dev/proxyCPU': '250m',
    'traffic.sluice.dev/excludeOutboundPorts': '5432,6379',
    'traffic.sluice.dev/excludeOutboundIPRanges': '169.254.169.254/32',
  } });
  const injected = namedPod('web', { annotations: { 'sidecar.sluice.dev/status': '{"version":1}' } });
  return [
    { name: 'deployment-pod', weight: 70, path: '/inject', body: body(deploymentPod()), patched: true },
    { name: 'annotated-pod', weight: 15, path: '/inject', body: body(annotated), patched: true },
    { name: 'opt-out', weight: 5, path: '/inject', body: body(deploymentPod({ labels: { 'sluice.dev/inject': 'false' } })), patched: false },
    { name: 'already-injected', weight: 5, path: '/inject', body: body(injected), patched: false },
    { name: 'opt-in', weight: 5, path: '/inject/opt-in', body: body(namedPod('batch', { labels: { app: 'batch', 'sluice.dev/inject': 'true' } }), 'billing'), patched: true },
  ];
}

export async function readMix(): Promise<MixEntry[]> {
  return JSON.parse(await readFile(REQUESTS_FILE, 'utf8')) as MixEntry[];
}

export interface LoadResult {
  readonly sent: number;
  readonly failures: readonly string[];
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly achievedRate: number;
}

export interface LoadOptions {
  readonly url: string;
  readonly ca: string;
  readonly rate: number;
  readonly durationSeconds: number;
  readonly warmupSeconds?: number;
  readonly mix: readonly MixEntry[];
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Send `rate` requests a second for `durationSeconds` (after a warm-up that is not measured). */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const target = new URL(options.url);
  const agent = new https.Agent({ keepAlive: true, ca: options.ca, maxSockets: 32 });
  const cumulative: Array<[number, MixEntry]> = [];
  let total = 0;
  for (const entry of options.mix) cumulative.push([(total += entry.weight), entry]);
  const pick = (i: number) => {
    // Deterministic spread over the weights (no RNG: runs are comparable).
    const slot = (i * 7919) % total;
    return cumulative.find(([upTo]) => slot < upTo)![1];
  };

  const once = (i: number) => new Promise<{ ms: number; failure?: string }>((resolve) => {
    const entry = pick(i);
    const uid = `6d1f9a3e-0000-4000-8000-${String(i).padStart(12, '0')}`;
    const body = entry.body.replace(UID_PLACEHOLDER, uid);
    const started = process.hrtime.bigint();
    const req = https.request({
      host: target.hostname, port: target.port, path: entry.path, method: 'POST', agent,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        let failure: string | undefined;
        try {
          const review = JSON.parse(Buffer.concat(chunks).toString()) as { response?: { uid?: string; allowed?: boolean; patch?: string } };
          if (res.statusCode !== 200) failure = `${entry.name}: HTTP ${res.statusCode}`;
          else if (review.response?.uid !== uid) failure = `${entry.name}: uid not echoed`;
          else if (review.response.allowed !== true) failure = `${entry.name}: not allowed`;
          else if (entry.patched !== (review.response.patch !== undefined)) failure = `${entry.name}: patch ${entry.patched ? 'missing' : 'unexpected'}`;
        } catch (error) {
          failure = `${entry.name}: unreadable answer (${(error as Error).message})`;
        }
        resolve({ ms, ...(failure ? { failure } : {}) });
      });
    });
    req.on('error', (error) => resolve({ ms: Number(process.hrtime.bigint() - started) / 1e6, failure: `${entry.name}: ${error.message}` }));
    req.end(body);
  });

  const phase = async (seconds: number, offset: number) => {
    const count = Math.round(seconds * options.rate);
    const interval = 1000 / options.rate;
    const start = performance.now();
    const pending: Promise<{ ms: number; failure?: string }>[] = [];
    for (let i = 0; i < count; i++) {
      // Schedule against the start time, not the previous send, so timer jitter does not accumulate.
      const wait = start + i * interval - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      pending.push(once(offset + i));
    }
    const results = await Promise.all(pending);
    return { results, elapsed: (performance.now() - start) / 1000 };
  };

  try {
    if ((options.warmupSeconds ?? 2) > 0) await phase(options.warmupSeconds ?? 2, 1_000_000);
    const { results, elapsed } = await phase(options.durationSeconds, 0);
    const sorted = results.map((r) => r.ms).sort((a, b) => a - b);
    return {
      sent: results.length,
      failures: results.flatMap((r) => (r.failure ? [r.failure] : [])),
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
      max: sorted.at(-1) ?? Number.NaN,
      achievedRate: results.length / elapsed,
    };
  } finally {
    agent.destroy();
  }
}

export interface SpawnedWebhook {
  readonly url: string;
  readonly ca: string;
  stop(): Promise<void>;
}

/** Start `sluice webhook` with a generated CA in a child process, as it runs in a cluster. */
export async function spawnWebhook(): Promise<SpawnedWebhook> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'control-plane/cli/main.ts', '--log-level', 'warn', 'webhook', '--host', '127.0.0.1', '--port', '0'], {
    cwd: repo, stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const ready = await new Promise<{ url: string; ca: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sluice webhook did not start: ${out}`)), 30_000);
    child.once('exit', (code) => reject(new Error(`sluice webhook exited with ${code}: ${out}`)));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const bundle = /caBundle: (\S+)/.exec(out);
      const url = /listening on (https:\/\/\S+)/.exec(out);
      if (bundle && url) {
        clearTimeout(timer);
        resolve({ url: url[1]!, ca: Buffer.from(bundle[1]!, 'base64').toString() });
      }
    });
  });
  return {
    ...ready,
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}

export function formatResult(r: LoadResult, rate: number): string {
  const f = (n: number) => n.toFixed(2);
  return [
    `webhook admissions: ${r.sent} at ${rate}/s target (${r.achievedRate.toFixed(1)}/s achieved), HTTPS keep-alive`,
    `latency ms: p50 ${f(r.p50)}  p90 ${f(r.p90)}  p99 ${f(r.p99)}  max ${f(r.max)}`,
    `checks: ${r.sent - r.failures.length}/${r.sent} passed${r.failures.length ? ` — first failure: ${r.failures[0]}` : ''}`,
  ].join('\n');
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flag = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  if (args.includes('--write-requests')) {
    await writeFile(REQUESTS_FILE, `${JSON.stringify(buildMix(), null, 2)}\n`);
    process.stdout.write(`wrote ${path.relative(process.cwd(), REQUESTS_FILE)}\n`);
    return;
  }
  const rate = Number(flag('rate') ?? 200);
  const durationSeconds = Number(flag('duration') ?? 30);
  const p99Budget = Number(flag('p99-ms') ?? 5);
  const url = flag('url');
  const server = url ? { url, ca: await readFile(flag('ca') ?? '', 'utf8'), stop: async () => {} } : await spawnWebhook();
  try {
    const result = await runLoad({ url: server.url, ca: server.ca, rate, durationSeconds, mix: await readMix() });
    process.stdout.write(`${formatResult(result, rate)}\n`);
    if (result.failures.length > 0 || result.p99 > p99Budget) {
      process.stdout.write(`FAIL: ${result.failures.length} failed checks, p99 ${result.p99.toFixed(2)} ms (budget ${p99Budget} ms)\n`);
      process.exitCode = 1;
    }
  } finally {
    await server.stop();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
