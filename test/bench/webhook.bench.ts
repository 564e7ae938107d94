/**
 * `npm run bench -- webhook`: admission latency of the injection webhook at
 * 200 AdmissionReviews a second over HTTPS keep-alive (target p99 ≤ 5 ms),
 * against `sluice webhook` running in its own process, with the request mix
 * of test/load/webhook-admission.k6.js. Also prints the in-process cost of
 * one review, to tell handler time from transport time.
 */
import { pino } from 'pino';
import { parseAdmissionReview, reviewAdmission } from '../../webhook/admission.js';
import { DEFAULT_INJECTION_CONFIG } from '../../webhook/config.js';
import { formatResult, readMix, runLoad, spawnWebhook } from '../load/webhook-admission.driver.js';

const RATE = 200;
const SECONDS = 15;
const P99_TARGET_MS = 5;

export async function run(): Promise<void> {
  const mix = await readMix();
  const log = pino({ level: 'silent' });
  const body = mix[0]!.body;
  for (let i = 0; i < 500; i++) reviewAdmission(parseAdmissionReview(body), { config: DEFAULT_INJECTION_CONFIG, policy: 'enabled', log });
  const n = 5000;
  const started = performance.now();
  for (let i = 0; i < n; i++) reviewAdmission(parseAdmissionReview(body), { config: DEFAULT_INJECTION_CONFIG, policy: 'enabled', log });
  process.stdout.write(`handler only (parse + decide + patch, in process): ${(((performance.now() - started) / n) * 1000).toFixed(1)} µs/review\n`);

  const server = await spawnWebhook();
  try {
    const result = await runLoad({ url: server.url, ca: server.ca, rate: RATE, durationSeconds: SECONDS, warmupSeconds: 3, mix });
    process.stdout.write(`${formatResult(result, RATE)}\n`);
    process.stdout.write(`target p99 ≤ ${P99_TARGET_MS} ms: ${result.p99 <= P99_TARGET_MS ? 'met' : 'MISSED'}\n`);
  } finally {
    await server.stop();
  }
}
