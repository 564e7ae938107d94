/**
 * The bare grpc-js limit both push benchmarks compare with: the same N
 * streams, each sent one pre-encoded message by a bare grpc-js server.
 */
import { Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
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

/**
 * What grpc-js alone costs per held stream: a bare server in its own process
 * (bare-server.ts) holding `proxies` streams from the same fleet, RSS after a
 * full GC with the streams minus before. The floor under "RSS per connected
 * proxy" for any server written on grpc-js.
 */
export async function measureBareMemory(proxies: number, timeoutMs = 180_000): Promise<{ rssPerStream: number } | { incomplete: string }> {
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(new URL('./bare-server.ts', import.meta.url))], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const waiting: Array<(line: string) => void> = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  const next = () => new Promise<string>((resolve) => waiting.push(resolve));
  const rss = async () => {
    const reply = next();
    child.stdin!.write('rss\n');
    const match = /^rss (\d+) streams (\d+)$/.exec(await reply);
    return { rss: Number(match![1]), streams: Number(match![2]) };
  };
  const fleet = new ProxyFleet();
  try {
    const measured = (async () => {
      const port = Number((await next()).split(' ')[1]);
      const before = await rss();
      await fleet.connect(proxies, { mode: 'bare', address: `127.0.0.1:${port}` });
      let after = await rss();
      while (after.streams < proxies) {
        await new Promise((r) => setTimeout(r, 100));
        after = await rss();
      }
      return { rssPerStream: (after.rss - before.rss) / Math.max(1, after.streams) };
    })();
    const result = await Promise.race([measured, deadline(timeoutMs)]);
    return result === 'timeout' ? { incomplete: `no answer within ${timeoutMs / 1000} s` } : result;
  } finally {
    await Promise.race([fleet.close(), deadline(10_000)]);
    child.stdin!.end();
    child.kill();
  }
}
