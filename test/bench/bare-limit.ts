/**
 * The bare grpc-js limit both push benchmarks compare with: the same N
 * streams, each sent one pre-encoded message by a bare grpc-js server.
 */
import { Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import { ProxyFleet } from './proxy-fleet.js';

const now = () => performance.timeOrigin + performance.now();
const deadline = (ms: number) => new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms).unref());

/**
 * The machine's limit: the same N streams, each sent one `size`-byte message by
 * a bare grpc-js server and answering it. Bounded: a run that does not finish
 * says how far it got instead of hanging the benchmark.
 */
export async function measureBare(proxies: number, size: number, timeoutMs = 180_000): Promise<{ ms: number } | { incomplete: string }> {
  const server = new Server();
  const streams: Array<ServerDuplexStream<Buffer, Buffer>> = [];
  let acks = 0;
  let onAllAcked: (() => void) | undefined;
  const passThrough = (value: Buffer) => value;
  server.addService({ Stream: { path: '/bench.Bare/Stream', requestStream: true, responseStream: true, requestSerialize: passThrough, responseDeserialize: passThrough, requestDeserialize: passThrough, responseSerialize: passThrough } } as never, {
    Stream: (call: ServerDuplexStream<Buffer, Buffer>) => {
      let first = true;
      call.on('data', () => {
        if (first) {
          first = false;
          streams.push(call);
          call.write(Buffer.from('welcome'));
          return;
        }
        if (++acks === proxies) onAllAcked?.();
      });
      call.on('error', () => undefined);
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  const fleet = new ProxyFleet();
  let stage = 'connecting';
  const timeout = deadline(timeoutMs);
  try {
    const measured = (async () => {
      await fleet.connect(proxies, { mode: 'bare', address: `127.0.0.1:${port}` });
      stage = 'arming';
      const armed = await fleet.arm('bare');
      const payload = Buffer.alloc(Math.max(1, Math.round(size)), 7);
      const allAcked = new Promise<void>((resolve) => (onAllAcked = resolve));
      stage = 'sending';
      const started = now();
      for (const stream of streams) stream.write(payload);
      await armed.received;
      stage = 'waiting for ACKs';
      await allAcked;
      return now() - started;
    })();
    const result = await Promise.race([measured, timeout]);
    if (result === 'timeout') return { incomplete: `${stage} after ${timeoutMs / 1000} s: ${streams.length} streams open, ${acks} answered` };
    return { ms: result };
  } finally {
    await Promise.race([fleet.close(), deadline(10_000)]);
    server.forceShutdown();
  }
}
