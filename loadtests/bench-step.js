// One step of the benchmark matrix (`bench matrix`), two kinds:
//   MODE=probe  one VU sends requests back to back: the unloaded service time;
//   MODE=rate   open model, RATE requests per second whatever the server does.
// When the server cannot keep up, requests wait (latency climbs), k6 runs out
// of VUs and the iterations it could not start are counted as
// dropped_iterations instead of being hidden.
import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';
import { Counter } from 'k6/metrics';
import { numberEnv, env, target, targetUrl } from './lib/config.js';
import { requireTarget } from './lib/requests.js';
import { summaryWriter } from './lib/summary.js';

const MODE = env('MODE', 'rate');
const SECONDS = numberEnv('SECONDS', 10);
const RATE = numberEnv('RATE', 10);
const PRE_VUS = Math.max(1, Math.round(numberEnv('PRE_VUS', 10)));
const MAX_VUS = Math.max(PRE_VUS, Math.round(numberEnv('MAX_VUS', 100)));
const TIMEOUT_SECONDS = numberEnv('TIMEOUT_SECONDS', 10);
const GRACE_SECONDS = numberEnv('GRACE_SECONDS', 0);
// Throughput is counted over [WINDOW_START_SECONDS, SECONDS]: responses that
// arrive in it, per second of it. Starting one service time in, it sees the
// steady state both below the knee (served = offered) and past it (served =
// capacity), where counting every response of the step would not.
const WINDOW_START_SECONDS = Math.min(numberEnv('WINDOW_START_SECONDS', 0), SECONDS / 2);
const servedInWindow = new Counter('served_in_window');
const ROUTE = target.endpoint.split('?')[0];

if (MODE !== 'probe' && MODE !== 'rate') {
  throw new Error(`MODE=${MODE} must be 'probe' or 'rate'`);
}

const duration = `${Math.round(SECONDS * 1000)}ms`;
// A rate per 100 s keeps fractional rates (2.5/s) evenly spaced.
const step =
  MODE === 'probe'
    ? { executor: 'constant-vus', vus: 1, duration, gracefulStop: `${TIMEOUT_SECONDS}s` }
    : {
        executor: 'constant-arrival-rate',
        rate: Math.max(1, Math.round(RATE * 100)),
        timeUnit: '100s',
        duration,
        preAllocatedVUs: PRE_VUS,
        maxVUs: MAX_VUS,
        // Requests still waiting GRACE_SECONDS after the step are cut off:
        // what the server did not answer by then does not count as served.
        gracefulStop: `${Math.round(GRACE_SECONDS * 1000)}ms`,
      };

export const options = {
  scenarios: { step },
  discardResponseBodies: true,
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

export function setup() {
  requireTarget();
}

export default function () {
  const response = http.get(targetUrl(), {
    tags: { name: ROUTE, route: ROUTE },
    timeout: `${TIMEOUT_SECONDS}s`,
  });
  const ok = check(response, { 'status is 200': (r) => r.status === 200 });
  const elapsedS = (Date.now() - exec.scenario.startTime) / 1000;
  if (ok && elapsedS >= WINDOW_START_SECONDS && elapsedS <= SECONDS) {
    servedInWindow.add(1);
  }
}

export const handleSummary = summaryWriter('bench-step');
