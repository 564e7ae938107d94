/**
 * gRPC C-core's xDS client (Debian's python3-grpcio, the core Python, C++,
 * Ruby and PHP services use) driven from vitest: one Python process per
 * client, speaking JSON lines on stdin/stdout (see grpc_core_client.py).
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** Debian's interpreter, not a pyenv one that may shadow it on PATH and lack the package. */
const python = process.env.SLUICE_INTEROP_PYTHON ?? '/usr/bin/python3';
const driver = path.join(path.dirname(fileURLToPath(import.meta.url)), 'grpc_core_client.py');

/** The installed grpcio version, or why the C-core tests cannot run. */
export function grpcCoreAvailability(): { version: string } | { missing: string } {
  const probe = spawnSync(python, ['-c', 'import grpc; print(grpc.__version__)'], { encoding: 'utf8', timeout: 20_000 });
  if (probe.error) return { missing: `${python} not found (${probe.error.message}); install Debian's python3-grpcio (apt-get install python3-grpcio) to run the gRPC C-core tests` };
  if (probe.status !== 0) return { missing: `${python} cannot import grpc; install Debian's python3-grpcio (apt-get install python3-grpcio) to run the gRPC C-core tests` };
  return { version: probe.stdout.trim() };
}

export type Counts = Record<string, number>;

export interface GrpcCoreClient {
  readonly nodeId: string;
  tally(count: number, options?: { metadata?: Record<string, string>; concurrency?: number; timeoutMs?: number }): Promise<Counts>;
  /** Background calls, one loop per entry, until stopLoad(). */
  startLoad(loops: ReadonlyArray<{ metadata?: Record<string, string> }>, pauseMs?: number): Promise<void>;
  /** Per loop, answers since the last take. */
  take(): Promise<Counts[]>;
  stopLoad(): Promise<void>;
  close(): Promise<void>;
  /** What the client logged (GRPC_VERBOSITY, GRPC_TRACE): for failure messages. */
  stderr(): string;
}

export interface GrpcCoreClientOptions {
  readonly target: string;
  readonly xdsAddress: string;
  readonly nodeId: string;
  readonly metadata: Record<string, unknown>;
  /** Extra environment, e.g. GRPC_TRACE=xds_client for debugging. */
  readonly env?: Record<string, string>;
}

export async function startGrpcCoreClient(options: GrpcCoreClientOptions): Promise<GrpcCoreClient> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-grpc-core-'));
  const bootstrap = path.join(dir, 'bootstrap.json');
  await writeFile(bootstrap, JSON.stringify({
    xds_servers: [{ server_uri: options.xdsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: options.nodeId, metadata: options.metadata, locality: {} },
  }));
  const child: ChildProcessWithoutNullStreams = spawn(python, [driver, options.target], {
    env: { ...process.env, GRPC_XDS_BOOTSTRAP: bootstrap, GRPC_VERBOSITY: 'ERROR', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-20_000);
  });
  const lines = createInterface({ input: child.stdout });
  const waiting: Array<{ resolve: (value: unknown) => void; reject: (error: Error) => void }> = [];
  let exited: Error | undefined;
  lines.on('line', (line) => waiting.shift()?.resolve(JSON.parse(line)));
  child.on('exit', (code, signal) => {
    exited = new Error(`gRPC C-core client exited (${code ?? signal}): ${stderr.slice(-2000)}`);
    for (const w of waiting.splice(0)) w.reject(exited);
  });
  const send = <T>(command: Record<string, unknown>): Promise<T> => {
    if (exited) return Promise.reject(exited);
    return new Promise<T>((resolve, reject) => {
      waiting.push({ resolve: resolve as (value: unknown) => void, reject });
      child.stdin.write(`${JSON.stringify(command)}\n`);
    });
  };
  let closed = false;
  return {
    nodeId: options.nodeId,
    tally: async (count, o = {}) => (await send<{ counts: Counts }>({ op: 'tally', count, metadata: o.metadata ?? {}, concurrency: o.concurrency ?? 20, timeoutMs: o.timeoutMs ?? 5000 })).counts,
    startLoad: async (loops, pauseMs = 2) => {
      await send({ op: 'load', loops, pauseMs });
    },
    take: async () => (await send<{ counts: Counts[] }>({ op: 'take' })).counts,
    stopLoad: async () => {
      await send({ op: 'stop' });
    },
    async close() {
      if (closed) return;
      closed = true;
      if (!exited) {
        const gone = new Promise((resolve) => child.once('exit', resolve));
        child.stdin.end();
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await gone;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
    stderr: () => stderr,
  };
}
