/**
 * A fleet of simulated proxies spread over worker processes (see
 * fanout-worker.ts), shared by the benchmarks that measure pushes to many proxies.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const workerFile = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fanout-worker.ts');

interface Worker {
  child: ChildProcess;
  next(event: string): Promise<{ event: string; times?: number[] }>;
}

function startWorker(): Worker {
  const child = fork(workerFile, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting: Array<{ event: string; resolve: (m: { event: string; times?: number[] }) => void }> = [];
  child.on('message', (message: { event: string; times?: number[] }) => {
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
        await connected;
      }),
    );
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
