/**
 * A fleet of simulated proxies spread over worker processes (see
 * fanout-worker.ts), shared by the benchmarks that measure pushes to many proxies.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { SidecarIdentity, XdsProtocol } from './serve-path-sidecar.js';

const workerFile = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fanout-worker.ts');

interface WorkerMessage {
  event: string;
  times?: number[];
  error?: string;
  [field: string]: unknown;
}

interface Worker {
  child: ChildProcess;
  next(event: string): Promise<WorkerMessage>;
}

function startWorker(): Worker {
  const child = fork(workerFile, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting: Array<{ event: string; resolve: (m: WorkerMessage) => void }> = [];
  child.on('message', (message: WorkerMessage) => {
    const index = waiting.findIndex((w) => w.event === message.event);
    if (index >= 0) waiting.splice(index, 1)[0]!.resolve(message);
  });
  return { child, next: (event) => new Promise((resolve) => waiting.push({ event, resolve })) };
}

export interface FleetOptions {
  readonly mode: 'ads' | 'bare';
  readonly address: string;
  /** EDS cluster names every simulated sidecar subscribes to. */
  readonly edsNames?: readonly string[];
  /** Namespace of the simulated sidecars (default ns-0). */
  readonly namespace?: string;
}

/** Per simulated sidecar, after a change: when it had it (epoch ms, null if never), bytes and responses received since the watch began. */
export interface SidecarChangeReport {
  readonly times: Array<number | null>;
  readonly bytes: number[];
  readonly responses: number[];
  /** Bytes summed over all sidecars, by resource type. */
  readonly typeBytes: Record<string, number>;
  readonly errors: number;
}

export class ProxyFleet {
  readonly #workers: Worker[];
  #counts: number[] = [];

  constructor(workerCount = 4) {
    this.#workers = Array.from({ length: workerCount }, startWorker);
  }

  async connect(n: number, options: FleetOptions): Promise<void> {
    const perWorker = Math.ceil(n / this.#workers.length);
    this.#counts = this.#workers.map((_, i) => Math.max(0, Math.min(perWorker, n - i * perWorker)));
    await Promise.all(
      this.#workers.map(async (worker, i) => {
        const connected = worker.next('connected');
        worker.child.send({ cmd: 'connect', ...options, edsNames: options.edsNames ?? [], count: this.#counts[i], firstIndex: i * perWorker });
        const reply = await connected;
        if (reply.error) throw new Error(`worker ${i}: ${reply.error}`);
      }),
    );
  }

  /** pids of the worker processes (their CPU is the fleet's, not the control plane's). */
  get pids(): number[] {
    return this.#workers.map((w) => w.child.pid!);
  }

  /** Simulated Envoy sidecars, one per identity, spread evenly over the workers; resolves when every one has CDS, EDS, LDS and RDS. */
  async connectSidecars(identities: readonly SidecarIdentity[], address: string, protocol: XdsProtocol): Promise<void> {
    const perWorker = Math.ceil(identities.length / this.#workers.length);
    this.#counts = this.#workers.map((_, i) => Math.max(0, Math.min(perWorker, identities.length - i * perWorker)));
    await Promise.all(
      this.#workers.map(async (worker, i) => {
        const connected = worker.next('connected');
        worker.child.send({ cmd: 'connect', mode: 'sidecar', address, protocol, sidecars: identities.slice(i * perWorker, (i + 1) * perWorker), count: this.#counts[i], firstIndex: i * perWorker, edsNames: [] });
        const reply = await connected;
        if (reply.error) throw new Error(`worker ${i}: ${reply.error}`);
      }),
    );
  }

  /**
   * Sidecar mode: every sidecar watches for the change (a response of `typeUrl`
   * holding `marker`, if given) and counts the bytes it receives from now on.
   * Resolves once armed, to a promise that settles when every sidecar has it.
   */
  async watchChange(typeUrl: string, marker?: string): Promise<{ everyProxy: Promise<void> }> {
    const done = await Promise.all(
      this.#workers.map(async (worker) => {
        const changed = worker.next('changed');
        const watching = worker.next('watching');
        worker.child.send({ cmd: 'watch', typeUrl, marker });
        await watching;
        return { changed };
      }),
    );
    return { everyProxy: Promise.all(done.map((d) => d.changed)).then(() => undefined) };
  }

  /** Sidecar mode: what each sidecar saw since the last watchChange, in identity order. */
  async collect(): Promise<SidecarChangeReport> {
    const replies = await Promise.all(
      this.#workers.map(async (worker) => {
        const collected = worker.next('collected');
        worker.child.send({ cmd: 'collect' });
        return collected;
      }),
    );
    return {
      times: replies.flatMap((r) => r.times as Array<number | null>),
      bytes: replies.flatMap((r) => r.bytes as number[]),
      responses: replies.flatMap((r) => r.responses as number[]),
      errors: replies.reduce((sum, r) => sum + (r.errors as number), 0),
      typeBytes: replies.reduce<Record<string, number>>((sum, r) => {
        for (const [kind, bytes] of Object.entries((r.typeBytes as Record<string, number> | undefined) ?? {})) sum[kind] = (sum[kind] ?? 0) + bytes;
        return sum;
      }, {}),
    };
  }

  /**
   * Arm every proxy to report its next push of `typeUrl`. Resolves once armed,
   * to a promise of the epoch-ms receive times of all proxies.
   */
  async arm(typeUrl: string): Promise<{ received: Promise<number[]> }> {
    const updates = await Promise.all(
      this.#workers.map(async (worker, i) => {
        const armed = worker.next('armed');
        worker.child.send({ cmd: 'expect-update', expected: this.#counts[i], typeUrl });
        await armed;
        // Wrapped: an async function returning a promise would wait for it.
        return { updated: this.#counts[i] === 0 ? Promise.resolve({ event: 'updated', times: [] as number[] }) : worker.next('updated') };
      }),
    );
    return { received: Promise.all(updates.map((u) => u.updated)).then((all) => all.flatMap((m) => m.times ?? [])) };
  }

  async close(): Promise<void> {
    await Promise.all(
      this.#workers.map(async (w) => {
        const closed = w.next('closed');
        w.child.send({ cmd: 'close' });
        await closed;
      }),
    );
  }
}
