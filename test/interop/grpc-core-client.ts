/**
 * gRPC C-core's xDS client (the core Python, C++, Ruby and PHP services use)
 * driven from vitest through Debian's packages: python3-grpcio
 * (grpc_core_client.py) or ruby-grpc (grpc_ruby_client.rb). One process per
 * client, speaking JSON lines on stdin/stdout.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export type CoreRuntime = 'python' | 'ruby';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Debian's interpreters, not a pyenv/rbenv one that may shadow them on PATH and lack the package. */
const runtimes: Record<CoreRuntime, { interpreter: string; driver: string; probe: string[]; debianPackage: string }> = {
  python: { interpreter: process.env.SLUICE_INTEROP_PYTHON ?? '/usr/bin/python3', driver: path.join(here, 'grpc_core_client.py'), probe: ['-c', 'import grpc; print(grpc.__version__)'], debianPackage: 'python3-grpcio' },
  ruby: { interpreter: process.env.SLUICE_INTEROP_RUBY ?? '/usr/bin/ruby', driver: path.join(here, 'grpc_ruby_client.rb'), probe: ['-e', 'require "grpc"; puts GRPC::VERSION'], debianPackage: 'ruby-grpc' },
};

/** The installed gRPC version for a runtime, or why its tests cannot run. */
export function grpcCoreAvailability(runtime: CoreRuntime = 'python'): { version: string } | { missing: string } {
  const { interpreter, probe: args, debianPackage } = runtimes[runtime];
  const probe = spawnSync(interpreter, args, { encoding: 'utf8', timeout: 20_000 });
  const install = `install Debian's ${debianPackage} (apt-get install ${debianPackage}) to run these gRPC C-core tests`;
  if (probe.error) return { missing: `${interpreter} not found (${probe.error.message}); ${install}` };
  if (probe.status !== 0) return { missing: `${interpreter} cannot load grpc; ${install}` };
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
  /** Which language binding drives the C-core client (default python). */
  readonly runtime?: CoreRuntime;
}

export async function startGrpcCoreClient(options: GrpcCoreClientOptions): Promise<GrpcCoreClient> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-grpc-core-'));
  const bootstrap = path.join(dir, 'bootstrap.json');
  await writeFile(bootstrap, JSON.stringify({
    xds_servers: [{ server_uri: options.xdsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: options.nodeId, metadata: options.metadata, locality: {} },
  }));
  const runtime = runtimes[options.runtime ?? 'python'];
  const child: ChildProcessWithoutNullStreams = spawn(runtime.interpreter, [runtime.driver, options.target], {
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
