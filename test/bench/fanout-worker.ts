/**
 * A child process hosting many simulated proxies for the fan-out benchmark.
 * `ads` mode: raw SotW ADS clients subscribing like an Envoy sidecar (CDS and
 * LDS wildcard, named EDS and RDS) and ACKing every response. `bare` mode: one
 * bidirectional stream each to a bare grpc-js server, answering each message.
 * `sidecar` mode: simulated Envoy sidecars (serve-path-sidecar.ts), each with
 * its own identity, over state of the world or delta; they report when a
 * watched change arrives and how many bytes they received.
 * Every proxy has its own connection (local subchannel pool), as real proxies do.
 */
import { credentials, makeGenericClientConstructor, type ClientDuplexStream } from '@grpc/grpc-js';
import { SotwClient, typeUrls, type SotwResponse } from '../support/ads-client.js';
import { SimulatedSidecar, type SidecarIdentity, type XdsProtocol } from './serve-path-sidecar.js';

interface ConnectCommand {
  cmd: 'connect';
  mode: 'ads' | 'bare' | 'sidecar';
  address: string;
  /** sidecar mode: one identity per proxy, and the protocol. */
  sidecars?: SidecarIdentity[];
  protocol?: XdsProtocol;
  count: number;
  firstIndex: number;
  edsNames: string[];
  namespace?: string;
}

const send = (message: unknown) => process.send!(message);
const now = () => performance.timeOrigin + performance.now();

let adsClients: SotwClient[] = [];
let bareStreams: Array<ClientDuplexStream<Buffer, Buffer>> = [];
let sidecars: SimulatedSidecar[] = [];
let waitingForUpdate: { received: number[]; expected: number; typeUrl: string } | undefined;

function onUpdate(typeUrl: string): void {
  if (!waitingForUpdate || waitingForUpdate.typeUrl !== typeUrl) return;
  waitingForUpdate.received.push(now());
  if (waitingForUpdate.received.length === waitingForUpdate.expected) {
    send({ event: 'updated', times: waitingForUpdate.received });
    waitingForUpdate = undefined;
  }
}

async function connectAds(command: ConnectCommand): Promise<void> {
  const initial: Array<Promise<unknown>> = [];
  for (let i = 0; i < command.count; i++) {
    const id = command.firstIndex + i;
    const namespace = command.namespace ?? 'ns-0';
    const client = new SotwClient(command.address, { nodeId: `proxy-${id}.${namespace}`, metadata: { namespace, labels: { app: 'client' }, mode: 'sidecar' }, decode: false });
    adsClients.push(client);
    const subscriptions: Array<[string, string[]]> = [[typeUrls.clusters, []], [typeUrls.endpoints, command.edsNames], [typeUrls.listeners, []], [typeUrls.routes, ['8080']]];
    initial.push(
      (async () => {
        for (const [typeUrl, names] of subscriptions) {
          client.request(typeUrl, names);
          const response = await client.nextOf(typeUrl, 60_000);
          client.ack(response, names);
        }
        // From now on: ACK every push and report the type being measured.
        const loop = async (typeUrl: string, names: string[]) => {
          for (;;) {
            let response: SotwResponse;
            try {
              response = await client.nextOf(typeUrl, 3_600_000);
            } catch {
              return;
            }
            onUpdate(typeUrl);
            client.ack(response, names);
          }
        };
        for (const [typeUrl, names] of subscriptions) void loop(typeUrl, names);
      })(),
    );
    // Open connections in small batches: a real fleet does not connect in the same millisecond.
    if (i % 100 === 99) await Promise.all(initial.slice(-100));
  }
  await Promise.all(initial);
}

async function connectBare(command: ConnectCommand): Promise<void> {
  const passThrough = (value: Buffer) => value;
  const Client = makeGenericClientConstructor({ Stream: { path: '/bench.Bare/Stream', requestStream: true, responseStream: true, requestSerialize: passThrough, responseDeserialize: passThrough, requestDeserialize: passThrough, responseSerialize: passThrough } } as never, 'Bare');
  const ready: Array<Promise<void>> = [];
  for (let i = 0; i < command.count; i++) {
    const client = new Client(command.address, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }) as unknown as { Stream(): ClientDuplexStream<Buffer, Buffer> };
    const stream = client.Stream();
    bareStreams.push(stream);
    ready.push(
      new Promise<void>((resolve, reject) => {
        let first = true;
        stream.on('data', () => {
          if (first) {
            first = false;
            resolve();
            return;
          }
          onUpdate('bare');
          stream.write(Buffer.from('ack'));
        });
        // A stream that fails before its welcome would otherwise leave the fleet waiting forever.
        stream.on('error', (error: Error) => reject(error));
      }),
    );
    stream.write(Buffer.from('hello'));
    // In batches, as connectAds: thousands of simultaneous connects overflow the listen backlog and some time out.
    if (i % 100 === 99) await Promise.all(ready.slice(-100));
  }
  await Promise.all(ready);
}

async function connectSidecars(command: ConnectCommand): Promise<void> {
  const synced: Array<Promise<void>> = [];
  for (const [i, identity] of (command.sidecars ?? []).entries()) {
    const sidecar = new SimulatedSidecar(command.address, identity, command.protocol ?? 'sotw');
    sidecars.push(sidecar);
    synced.push(sidecar.start());
    // In batches, as in connectAds: a real fleet does not connect in the same millisecond.
    if (i % 100 === 99) await Promise.all(synced.slice(-100));
  }
  await Promise.all(synced);
}

/** Every sidecar watches for the change; one `changed` message when all have it. */
function watchSidecars(typeUrl: string, marker: string | undefined): void {
  let remaining = sidecars.length;
  const done = () => send({ event: 'changed', times: sidecars.map((s) => s.changedAt!) });
  for (const sidecar of sidecars) {
    sidecar.watch({ typeUrl, marker: marker === undefined ? undefined : Buffer.from(marker) }, () => {
      if (--remaining === 0) done();
    });
  }
  if (remaining === 0) done();
}

process.on('message', (message: { cmd: string } & Partial<ConnectCommand> & { expected?: number; typeUrl?: string; marker?: string }) => {
  void (async () => {
    if (message.cmd === 'connect') {
      const command = message as ConnectCommand;
      try {
        if (command.mode === 'ads') await connectAds(command);
        else if (command.mode === 'sidecar') await connectSidecars(command);
        else await connectBare(command);
        send({ event: 'connected' });
      } catch (error) {
        send({ event: 'connected', error: error instanceof Error ? error.message : String(error) });
      }
    } else if (message.cmd === 'watch') {
      watchSidecars(message.typeUrl!, message.marker);
      send({ event: 'watching' });
    } else if (message.cmd === 'collect') {
      // Per sidecar: bytes and responses since the watch began, when the change arrived, any stream error.
      const typeBytes: Record<string, number> = {};
      for (const sidecar of sidecars) for (const [kind, bytes] of Object.entries(sidecar.bytesByType)) typeBytes[kind] = (typeBytes[kind] ?? 0) + bytes;
      send({ event: 'collected', typeBytes, bytes: sidecars.map((s) => s.bytes), responses: sidecars.map((s) => s.responses), times: sidecars.map((s) => s.changedAt ?? null), errors: sidecars.filter((s) => s.error).length });
    } else if (message.cmd === 'expect-update') {
      waitingForUpdate = { received: [], expected: message.expected!, typeUrl: message.typeUrl ?? typeUrls.routes };
      send({ event: 'armed' });
    } else if (message.cmd === 'close') {
      for (const client of adsClients) client.close();
      for (const stream of bareStreams) stream.cancel();
      for (const sidecar of sidecars) sidecar.close();
      sidecars = [];
      adsClients = [];
      bareStreams = [];
      send({ event: 'closed' });
      setTimeout(() => process.exit(0), 100);
    }
  })();
});
