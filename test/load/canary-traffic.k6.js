// The carrier's traffic profile for canary releases: HTTP with a user ID in a
// header (x-user-id) or in the JSON body (/user/id), ramping to the 2,500 req/s
// peak and holding the 1,500 req/s average. Point it at a sidecar-fronted
// service: k6 run -e TARGET=http://orders.shop:8080/orders test/load/canary-traffic.k6.js
// The Node twin, canary-traffic.driver.ts, runs the same profile here.
import http from 'k6/http';
import { check } from 'k6';

const target = __ENV.TARGET || 'http://127.0.0.1:8080/orders';
const cohort = ['u-1', 'u-2', 'beta-7'];

export const options = {
  scenarios: {
    carrier: {
      executor: 'ramping-arrival-rate',
      startRate: 500,
      timeUnit: '1s',
      preAllocatedVUs: 200,
      maxVUs: 2000,
      stages: [
        { target: 1500, duration: '1m' }, // average
        { target: 1500, duration: '5m' },
        { target: 2500, duration: '1m' }, // peak
        { target: 2500, duration: '3m' },
        { target: 1500, duration: '1m' },
      ],
    },
  },
  thresholds: { http_req_failed: ['rate<0.01'], http_req_duration: ['p(99)<250'] },
};

export default function () {
  // 1 in 100 requests comes from a cohort user; half carry the ID in a header, half in the body.
  const user = Math.random() < 0.01 ? cohort[Math.floor(Math.random() * cohort.length)] : `u-${Math.floor(Math.random() * 1e6)}`;
  const inHeader = Math.random() < 0.5;
  const body = JSON.stringify({ user: inHeader ? {} : { id: user }, items: [{ sku: 'sku-1', qty: 1 }] });
  const response = http.post(target, body, { headers: { 'content-type': 'application/json', ...(inHeader ? { 'x-user-id': user } : {}) } });
  check(response, { 'status is 2xx': (r) => r.status >= 200 && r.status < 300 });
}
