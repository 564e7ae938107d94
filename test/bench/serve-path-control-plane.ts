/**
 * The real `sluice serve` as a separate process for the serve-path benchmark,
 * so its CPU and memory are its own: CPU from /proc/<pid>/stat (utime +
 * stime), RSS from /proc/<pid>/status, live heap from the admin /metrics
 * (prom-client's nodejs_heap_size_used_bytes) after a forced GC (see
 * serve-path-gc-preload.ts).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';
import { createInterface } from 'node:readline';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');

function clockTicksPerSecond(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}
const ticksPerSecond = clockTicksPerSecond();

/** CPU seconds (user + system) a process has used so far. */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

/** Resident set size of a process, in bytes. */
export function processRssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : Number.NaN;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ServeOptions {
  /** The YAML directory (`--config`), or a kubeconfig (`--kubeconfig`). */
  readonly config?: string;
  readonly kubeconfig?: string;
  /** Run the built dist/ instead of the TypeScript sources through tsx. */
  readonly dist?: boolean;
  readonly extraArgs?: readonly string[];
}

export class ServedControlPlane {
  readonly #recentOutput: string[] = [];

  private constructor(
    readonly child: ChildProcess,
    readonly xdsAddress: string,
    readonly adminUrl: string,
  ) {}

  get pid(): number {
    return this.child.pid!;
  }

  static async start(options: ServeOptions): Promise<ServedControlPlane> {
    const entry = options.dist ? path.join(repo, 'dist/control-plane/cli/main.js') : path.join(repo, 'control-plane/cli/main.ts');
    if (!existsSync(entry)) throw new Error(`${entry} does not exist${options.dist ? ' (run npm run build)' : ''}`);
    // tsx also with dist: the preload is TypeScript (loading it costs only at start-up).
    const nodeArgs = ['--expose-gc', '--import', 'tsx', '--import', pathToFileURL(path.join(here, 'serve-path-gc-preload.ts')).href];
    const source = options.kubeconfig ? ['--kubeconfig', options.kubeconfig] : ['--config', options.config!];
    const args = [...nodeArgs, entry, 'serve', ...source, '--host', '127.0.0.1', '--xds-port', '0', '--admin-port', '0', ...(options.extraArgs ?? [])];
    const child = spawn(process.execPath, args, { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    const recent: string[] = [];
    const remember = (line: string) => {
      recent.push(line);
      if (recent.length > 20) recent.shift();
    };
    createInterface({ input: child.stdout! }).on('line', remember);
    const lines = createInterface({ input: child.stderr! });
    // `sluice serve` announces its ports on stderr once listening: "sluice: serving xDS on <host>:<port>, admin on <url> (config: …)".
    const ports = await new Promise<{ xds: string; admin: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sluice serve did not report its ports within 120 s; last output:\n${recent.join('\n')}`)), 120_000);
      lines.on('line', (line) => {
        remember(line);
        const match = /serving xDS on (\S+), admin on (\S+)/.exec(line);
        if (match) {
          clearTimeout(timer);
          resolve({ xds: match[1]!, admin: match[2]! });
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`sluice serve exited with ${code}; last output:\n${recent.join('\n')}`));
      });
    });
    const served = new ServedControlPlane(child, ports.xds, ports.admin);
    served.#recentOutput.push(...recent);
    lines.on('line', (line) => {
      served.#recentOutput.push(line);
      if (served.#recentOutput.length > 20) served.#recentOutput.shift();
    });
    await served.#waitReady();
    return served;
  }

  /** The last lines it wrote (for error reports). */
  get recentOutput(): string {
    return this.#recentOutput.join('\n');
  }

  async #waitReady(): Promise<void> {
    const deadline = Date.now() + 120_000;
    for (;;) {
      const status = await fetch(`${this.adminUrl}/readyz`).then((r) => r.status, () => 0);
      if (status === 200) return;
      if (Date.now() > deadline) throw new Error(`sluice serve not ready within 120 s (/readyz ${status}); last output:\n${this.recentOutput}`);
      await sleep(200);
    }
  }

  /** With SLUICE_SERVE_PATH_CPU_PROF set, starts or ends (and writes) a CPU profile of the changes (serve-path-gc-preload.ts). */
  toggleCpuProfile(): void {
    if (process.env.SLUICE_SERVE_PATH_CPU_PROF) this.child.kill('SIGWINCH');
  }

  cpuSeconds(): number {
    return processCpuSeconds(this.pid);
  }

  rssBytes(): number {
    return processRssBytes(this.pid);
  }

  /** Live heap after a full GC, from the admin /metrics. */
  async heapUsedBytes(): Promise<number> {
    this.child.kill('SIGUSR2');
    await sleep(500);
    const text = await (await fetch(`${this.adminUrl}/metrics`)).text();
    const match = /^\w*nodejs_heap_size_used_bytes(?:\{[^}]*\})? (\S+)$/m.exec(text);
    if (!match) throw new Error('/metrics has no nodejs_heap_size_used_bytes');
    return Number(match[1]);
  }

  /** RSS and heap after a forced GC and a short rest. */
  async memory(): Promise<{ rss: number; heap: number }> {
    const heap = await this.heapUsedBytes();
    return { rss: this.rssBytes(), heap };
  }

  /**
   * Waits until the process goes quiet (at most one clock tick of CPU in
   * `quietMs`) and returns its CPU seconds at the start of that quiet
   * period: the work a change caused, ACK handling included.
   */
  async cpuWhenQuiet(quietMs = 500, timeoutMs = 60_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let before = this.cpuSeconds();
    for (;;) {
      await sleep(quietMs);
      const after = this.cpuSeconds();
      if (after - before <= 1 / ticksPerSecond + 1e-9 || Date.now() > deadline) return before;
      before = after;
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
