// The lab's k6 script: several endpoints, two scenarios, groups, checks, custom metrics of every type,
// thresholds on tagged submetrics, and the playbook's feature-flag hash as a `variant` tag.
// Environment: BASE_URL (required), ITERATIONS (per VU, default 200), VUS (default 10).
// No handleSummary here, so k6 prints its own end-of-test summary; k6_script_handle_summary.js adds one.
import http from 'k6/http';
import { check, group } from 'k6';
import { Trend, Counter, Rate, Gauge } from 'k6/metrics';

const BASE = __ENV.BASE_URL;
const VUS = parseInt(__ENV.VUS || '10');
const ITER = parseInt(__ENV.ITERATIONS || '200');

const eventsLatency = new Trend('events_latency', true);
const itemsSeen = new Counter('items_seen');
const okRate = new Rate('ok_rate');
const lastItems = new Gauge('last_items');

// PerformanceFeatureFlag.hash from the playbook
function flagHash(str) {
  let hash = 0;
  for (let i = 0; i < str.length; i++) {
    const char = str.charCodeAt(i);
    hash = ((hash << 5) - hash) + char;
    hash = hash & hash;
  }
  return Math.abs(hash);
}

export const options = {
  scenarios: {
    browse: { executor: 'per-vu-iterations', vus: VUS, iterations: ITER, exec: 'browse', tags: { kind: 'read' } },
    login: { executor: 'shared-iterations', vus: 2, iterations: Math.max(10, Math.floor(ITER / 4)), exec: 'login' },
  },
  thresholds: {
    'http_req_duration': ['p(95)<500'],
    'http_req_duration{name:events}': ['p(95)<200', 'p(99)<400'],
    'http_req_failed{scenario:browse}': ['rate<0.05'],
    'checks{check:status is 200}': ['rate>0.9'],
    'events_latency': ['avg<100'],
    'items_seen': ['count>0'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'count'],
};

export function browse() {
  const user = `user-${__VU}-${__ITER}`;
  group('dashboard', () => {
    const r = http.get(`${BASE}/api/dashboard/summary`, { tags: { name: 'dashboard' } });
    check(r, { 'status is 200': (x) => x.status === 200 });
    okRate.add(r.status === 200);
  });
  group('security', () => {
    const t = http.get(`${BASE}/api/threats/active`, { tags: { name: 'threats' } });
    check(t, { 'status is 200': (x) => x.status === 200 });
    okRate.add(t.status === 200);
    const a = http.get(`${BASE}/api/alerts/recent`, { tags: { name: 'alerts' } });
    check(a, { 'status is 200': (x) => x.status === 200 });
  });
  const variant = (flagHash(user + 'optimized_query_v2') % 100) < 25 ? 'optimized' : 'standard';
  const e = http.get(`${BASE}/api/events?user=${encodeURIComponent(user)}`, { tags: { name: 'events', variant } });
  eventsLatency.add(e.timings.duration, { variant });
  if (e.status === 200) {
    const n = e.json('items').length;
    itemsSeen.add(n);
    lastItems.add(n);
  }
}

export function login() {
  const bad = __ITER % 5 === 0;
  const r = http.post(`${BASE}/api/login`, JSON.stringify({ user: 'u', password: bad ? 'wrong' : 'secret' }),
    { headers: { 'Content-Type': 'application/json' }, tags: { name: 'login' } });
  check(r, { 'login ok': (x) => x.status === 200 });
}
