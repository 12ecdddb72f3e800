// The bottleneck scenario's load: the shop's two endpoints with independent load shapes, so that a
// statement's calls can be tied to one endpoint's requests. Environment: BASE_URL (required),
// DURATION_S (default 30), CATALOG_RPS (default 8), ORDERS_MAX_RPS (default 40).
import http from 'k6/http';
import { check } from 'k6';

const BASE = __ENV.BASE_URL;
const D = parseInt(__ENV.DURATION_S || '30');
const CATALOG_RPS = parseInt(__ENV.CATALOG_RPS || '8');
const ORDERS_MAX = parseInt(__ENV.ORDERS_MAX_RPS || '40');

export const options = {
  scenarios: {
    // steady browsing of the catalog
    catalog: { executor: 'constant-arrival-rate', rate: CATALOG_RPS, timeUnit: '1s', duration: `${D}s`,
               preAllocatedVUs: 6, maxVUs: 20, exec: 'catalog' },
    // orders: load that climbs, then falls back
    orders: { executor: 'ramping-arrival-rate', startRate: 2, timeUnit: '1s', preAllocatedVUs: 6, maxVUs: 20,
              stages: [{ target: ORDERS_MAX, duration: `${Math.floor(D * 0.6)}s` },
                       { target: 2, duration: `${D - Math.floor(D * 0.6)}s` }], exec: 'orders' },
  },
  thresholds: { 'http_req_duration': ['p(95)<1000'] },
};

export function catalog() {
  const r = http.get(`${BASE}/api/catalog?category=${Math.floor(Math.random() * 100000)}`, { tags: { name: 'catalog' } });
  check(r, { 'catalog 200': (x) => x.status === 200 });
}

export function orders() {
  const r = http.get(`${BASE}/api/orders?id=${Math.floor(Math.random() * 100000)}`, { tags: { name: 'orders' } });
  check(r, { 'orders 200': (x) => x.status === 200 });
}
