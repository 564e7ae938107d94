/**
 * A bare grpc-js server in its own process (for measureBareMemory): it holds
 * every bidirectional stream opened to it, answers each first message, and
 * reports its RSS on request — the memory grpc-js itself costs per stream.
 * Protocol on stdin/stdout, one line each: it prints `port <n>`; on `rss` it
 * prints `rss <bytes> streams <n>` after a full GC.
 */
import { Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import { createInterface } from 'node:readline';

const streams: Array<ServerDuplexStream<Buffer, Buffer>> = [];
const passThrough = (value: Buffer) => value;
const server = new Server();
server.addService({ Stream: { path: '/bench.Bare/Stream', requestStream: true, responseStream: true, requestSerialize: passThrough, responseDeserialize: passThrough, requestDeserialize: passThrough, responseSerialize: passThrough } } as never, {
  Stream: (call: ServerDuplexStream<Buffer, Buffer>) => {
    let first = true;
    call.on('data', () => {
      if (!first) return;
      first = false;
      streams.push(call);
      call.write(Buffer.from('welcome'));
    });
    call.on('error', () => undefined);
  },
});
server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  process.stdout.write(`port ${port}\n`);
});
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line !== 'rss') return;
  (globalThis as { gc?: () => void }).gc?.();
  process.stdout.write(`rss ${process.memoryUsage().rss} streams ${streams.length}\n`);
});
process.stdin.on('end', () => process.exit(0));
