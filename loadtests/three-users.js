// The seed demo: three users send one request each, at the same moment, to the
// same endpoint (default /sync on WSGI rows, /async on ASGI rows: 5 s).
// One sync worker serves them one after another: ~5, ~10, ~15 s.
// One event loop serves them together: ~5, ~5, ~5 s.
import { sleep } from 'k6';
import { Trend } from 'k6/metrics';
import { hit, requireTarget } from './lib/requests.js';
import { summaryWriter } from './lib/summary.js';
import { numberEnv } from './lib/config.js';

const USERS = numberEnv('USERS', 3);
const userSeconds = new Trend('user_seconds');

const perUser = {};
for (let user = 1; user <= USERS; user += 1) {
  // A threshold per user makes k6 keep that user's own figures in the summary.
  perUser[`user_seconds{user:${user}}`] = ['max>=0'];
}

export const options = {
  scenarios: {
    users: { executor: 'per-vu-iterations', vus: USERS, iterations: 1, maxDuration: '120s' },
  },
  thresholds: { http_req_failed: ['rate<0.01'], ...perUser },
};

export function setup() {
  requireTarget();
}

// k6 writes its stale markers (K6_PROMETHEUS_RW_STALE_MARKERS) as it stops,
// within milliseconds of the last user's answer, and that answer is the only
// sample of its series: Prometheus would hide it at once, and before 2.45 no
// range function can read a native histogram's last value. Two more pushes
// (1 s each) before k6 stops keep it visible to the dashboard's quantiles.
const PUSHES_BEFORE_STOP_S = 2;

export function teardown() {
  sleep(PUSHES_BEFORE_STOP_S);
}

export default function () {
  const response = hit({ user: String(__VU) });
  userSeconds.add(response.timings.duration / 1000, { user: String(__VU) });
}

function finishTimes(data) {
  const times = [];
  for (let user = 1; user <= USERS; user += 1) {
    const metric = data.metrics[`user_seconds{user:${user}}`];
    if (metric) {
      times.push(metric.values.max);
    }
  }
  times.sort((a, b) => a - b);
  let text = '  users, in the order they got their answer (seconds after the common start):\n';
  times.forEach((seconds, index) => {
    text += `    user ${String.fromCharCode(65 + index)}: ${seconds.toFixed(2)} s\n`;
  });
  return text;
}

export const handleSummary = summaryWriter('three-users', finishTimes);
