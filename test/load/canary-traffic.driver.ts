/**
 * canary-traffic.k6.js in Node, for machines without k6: an open-loop
 * constant arrival rate of HTTP POSTs carrying a user ID in the x-user-id
 * header or the JSON body (/user/id), 1% cohort users, against --url or, by
 * default, a local target it starts (which answers like v1/v2 backends and
 * checks every request carries a user ID). Prints achieved rate, errors and
 * latency percentiles; exits 1 when the rate falls short or errors exceed 1%.
 *
 *   npx tsx test/load/canary-traffic.driver.ts [--rate 1500] [--duration 10] [--url http://host:port/orders]
 *   npx tsx test/load/canary-traffic.driver.ts --rate 2500   # the peak
 */
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { rate: { type: 'string', default: '1500' }, duration: { type: 'string', default: '10' }, url: { type: 'string' } } });
const rate = Number(values.rate);
const durationS = Number(values.duration);
const cohort = ['u-1', 'u-2', 'beta-7'];

async function localTarget(): Promise<{ url: string; close: () => Promise<void>; missingUser: () => number }> {
  let missing = 0;
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      const header = request.headers['x-user-id'];
      let user = typeof header === 'string' ? header : undefined;
      if (!user) {
        try {
          user = (JSON.parse(Buffer.concat(chunks).toString()) as { user?: { id?: string } }).user?.id;
        } catch {
          user = undefined;
        }
      }
      if (!user) missing++;
      response.writeHead(user ? 200 : 400, { 'content-type': 'application/json' }).end(JSON.stringify({ version: cohort.includes(user ?? '') ? 'v2' : 'v1' }));
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/orders`, missingUser: () => missing, close: () => new Promise((r) => server.close(() => r())) };
}

const target = values.url ? { url: values.url, close: async () => undefined, missingUser: () => 0 } : await localTarget();
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const latencies: number[] = [];
let errors = 0;
let sent = 0;
const inflight = new Set<Promise<void>>();

function one(): Promise<void> {
  const user = Math.random() < 0.01 ? cohort[Math.floor(Math.random() * cohort.length)]! : `u-${Math.floor(Math.random() * 1e6)}`;
  const inHeader = Math.random() < 0.5;
  const body = JSON.stringify({ user: inHeader ? {} : { id: user }, items: [{ sku: 'sku-1', qty: 1 }] });
  const started = performance.now();
  return new Promise<void>((resolve) => {
    const request = http.request(target.url, { method: 'POST', agent, headers: { 'content-type': 'application/json', ...(inHeader ? { 'x-user-id': user } : {}) } }, (response) => {
      response.resume();
      response.on('end', () => {
        latencies.push(performance.now() - started);
        if (!response.statusCode || response.statusCode >= 300) errors++;
        resolve();
      });
    });
    request.on('error', () => {
      errors++;
      resolve();
    });
    request.end(body);
  });
}

// Open loop: requests are due on a fixed schedule whatever the answers' latency.
const start = performance.now();
const end = start + durationS * 1000;
while (performance.now() < end) {
  const due = Math.floor(((performance.now() - start) / 1000) * rate);
  while (sent < due) {
    sent++;
    const p = one().finally(() => inflight.delete(p));
    inflight.add(p);
  }
  await new Promise((r) => setTimeout(r, 5));
}
await Promise.all(inflight);
const elapsed = (performance.now() - start) / 1000;
latencies.sort((a, b) => a - b);
const pct = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]?.toFixed(2);
const achieved = latencies.length / elapsed;
process.stdout.write(`canary-traffic: target ${rate} req/s for ${durationS}s → ${sent} sent, ${achieved.toFixed(0)} req/s answered, errors ${errors} (${((100 * errors) / Math.max(1, sent)).toFixed(2)}%), missing user ID ${target.missingUser()}, p50 ${pct(0.5)} ms p99 ${pct(0.99)} ms\n`);
agent.destroy();
await target.close();
if (achieved < rate * 0.9 || errors / Math.max(1, sent) > 0.01) process.exitCode = 1;
