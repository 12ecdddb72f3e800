// The lab's load test, after the playbook's k6/scenarios/api-endpoints-comprehensive.js: a ramping
// arrival rate over the API's endpoints, a `name` tag per endpoint, the user id sent as X-User-Id so the
// `optimized_query_v2` flag applies, and every request tagged `variant` by the playbook's flag hash.
// No handleSummary: k6 prints its own end-of-test summary; the lab keeps --summary-export's file.
// Environment: BASE_URL (required), RATE (iterations/s at the plateau, default 30), RAMP (default 10s),
// HOLD (default 40s), USERS (active users 1..USERS, default 2000), FLAG_PERCENT (default 25).
import http from 'k6/http';
import { check } from 'k6';

const BASE = __ENV.BASE_URL;
const RATE = parseInt(__ENV.RATE || '30');
const USERS = parseInt(__ENV.USERS || '2000');
const FLAG_PERCENT = parseInt(__ENV.FLAG_PERCENT || '25');

// PerformanceFeatureFlag.hash from the playbook (the API buckets with workbench.flags, bit for bit)
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
    api_endpoints: {
      executor: 'ramping-arrival-rate',
      startRate: 1,
      timeUnit: '1s',
      preAllocatedVUs: 20,
      maxVUs: 80,
      stages: [
        { target: RATE, duration: __ENV.RAMP || '10s' },
        { target: RATE, duration: __ENV.HOLD || '40s' },
      ],
    },
  },
  thresholds: {
    http_req_duration: ['p(95)<1000'],
    'http_req_duration{name:/api/events}': ['p(95)<1000'],
    http_req_failed: ['rate<0.05'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'count'],
};

// endpoint name, weight, path builder
const ENDPOINTS = [
  ['/api/events', 35, () => `/api/events?severity=${pickSeverity()}`],
  ['/api/alerts/recent', 20, () => '/api/alerts/recent'],
  ['/api/dashboard/summary', 15, () => '/api/dashboard/summary'],
  ['/api/threats/active', 15, () => '/api/threats/active'],
  ['/api/users/{id}', 15, (user) => `/api/users/${user}`],
];
const TOTAL = ENDPOINTS.reduce((s, e) => s + e[1], 0);

function pickSeverity() {
  const r = Math.random();
  return r < 0.5 ? 'high' : (r < 0.8 ? 'critical' : 'medium');
}

function pickEndpoint() {
  let r = Math.random() * TOTAL;
  for (const e of ENDPOINTS) {
    r -= e[1];
    if (r < 0) return e;
  }
  return ENDPOINTS[0];
}

export default function () {
  const user = String(1 + Math.floor(Math.random() * USERS));
  const variant = (flagHash(user + 'optimized_query_v2') % 100) < FLAG_PERCENT ? 'optimized' : 'standard';
  const [name, , path] = pickEndpoint();
  const res = http.get(`${BASE}${path(user)}`, { headers: { 'X-User-Id': user }, tags: { name, variant } });
  check(res, { 'status is 200': (r) => r.status === 200 });
}
