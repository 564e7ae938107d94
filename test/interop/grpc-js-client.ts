/**
 * @grpc/grpc-js-xds (the Node client) behind the same interface as the C-core
 * driver, so one interop suite runs every client of the matrix.
 */
import { register } from '@grpc/grpc-js-xds';
import { tally, xdsEchoClient } from '../support/echo-backend.js';
import type { Counts, GrpcCoreClient, GrpcCoreClientOptions } from './grpc-core-client.js';

register();

export async function startGrpcJsClient(options: GrpcCoreClientOptions): Promise<GrpcCoreClient> {
  const client = xdsEchoClient(options.target, options.xdsAddress, { id: options.nodeId, metadata: options.metadata });
  let loops: Counts[] = [];
  let running = false;
  let workers: Array<Promise<void>> = [];
  return {
    nodeId: options.nodeId,
    tally: (count, o = {}) => tally(() => client.whoami(o.metadata ?? {}, o.timeoutMs ?? 5000), count, o.concurrency ?? 20),
    async startLoad(specs, pauseMs = 2) {
      running = true;
      workers = specs.map(async (spec) => {
        const counts: Counts = {};
        loops.push(counts);
        while (running) {
          const answer = await client.whoami(spec.metadata ?? {}, 2000).catch((e: { code?: number }) => `error:${e.code ?? '?'}`);
          counts[answer] = (counts[answer] ?? 0) + 1;
          await new Promise((r) => setTimeout(r, pauseMs));
        }
      });
    },
    async take() {
      const taken = loops.map((c) => ({ ...c }));
      for (const c of loops) for (const key of Object.keys(c)) delete c[key];
      return taken;
    },
    async stopLoad() {
      running = false;
      await Promise.all(workers);
      loops = [];
    },
    async close() {
      running = false;
      await Promise.all(workers);
      client.close();
    },
    stderr: () => '',
  };
}
