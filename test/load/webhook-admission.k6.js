// k6 load test for the sidecar-injection webhook: a constant arrival rate of
// AdmissionReviews over HTTPS keep-alive, every answer checked.
// The request mix (webhook-admission.requests.json) is shared with
// webhook-admission.driver.ts, which runs the same scenario where k6 is not installed.
//
//   sluice webhook --host 127.0.0.1 --port 9443        # prints caBundle (self-signed)
//   k6 run -e WEBHOOK_URL=https://127.0.0.1:9443 test/load/webhook-admission.k6.js
//   (RATE=200 DURATION=30s by default; -e RATE=400 -e DURATION=2m to change)
import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';

const mix = JSON.parse(open('./webhook-admission.requests.json'));
const UID_PLACEHOLDER = '00000000-0000-0000-0000-000000000000';
const total = mix.reduce((sum, entry) => sum + entry.weight, 0);
const cumulative = [];
let upTo = 0;
for (const entry of mix) cumulative.push([(upTo += entry.weight), entry]);

const target = __ENV.WEBHOOK_URL || 'https://127.0.0.1:9443';

export const options = {
  // The webhook's certificate is self-signed for quick starts; point k6 at a
  // properly signed one and remove this to verify TLS as the API server does.
  insecureSkipTLSVerify: true,
  scenarios: {
    admissions: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE || 200),
      timeUnit: '1s',
      duration: __ENV.DURATION || '30s',
      preAllocatedVUs: 20,
      maxVUs: 200,
    },
  },
  thresholds: {
    http_req_duration: ['p(50)<2', 'p(99)<5'],
    checks: ['rate==1.0'],
  },
};

export default function () {
  const i = exec.scenario.iterationInTest;
  // The same deterministic spread over the weights as the Node driver.
  const slot = (i * 7919) % total;
  const entry = cumulative.find(([limit]) => slot < limit)[1];
  const uid = `6d1f9a3e-0000-4000-8000-${String(i).padStart(12, '0')}`;
  const res = http.post(`${target}${entry.path}`, entry.body.replace(UID_PLACEHOLDER, uid), {
    headers: { 'Content-Type': 'application/json' },
    tags: { request: entry.name },
  });
  let review = {};
  try {
    review = res.json();
  } catch (_) {
    review = {};
  }
  const response = review.response || {};
  check(res, {
    'status 200': (r) => r.status === 200,
    'uid echoed': () => response.uid === uid,
    'allowed': () => response.allowed === true,
    'patch as expected': () => entry.patched === (response.patch !== undefined),
  });
}
