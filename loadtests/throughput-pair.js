// Two servers at once, closed loop: VUS users send /hello back to back to
// BASE_URL_A and as many to BASE_URL_B, for WARMUP_SECONDS (not counted),
// then MEASURE_SECONDS. Used by `bench overhead --method simultaneous`: with
// both servers on one core, a slow moment of the machine hits both alike.
import http from 'k6/http';
import { check } from 'k6';
import { env, numberEnv, seconds } from './lib/config.js';
import { summaryWriter } from './lib/summary.js';

const VUS = numberEnv('VUS', 8);
const WARMUP_SECONDS = numberEnv('WARMUP_SECONDS', 1);
const MEASURE_SECONDS = numberEnv('MEASURE_SECONDS', 5);
const ENDPOINT = env('ENDPOINT', '/hello');
const URLS = { a: `${env('BASE_URL_A', '')}${ENDPOINT}`, b: `${env('BASE_URL_B', '')}${ENDPOINT}` };

function side(name, startSeconds, durationSeconds, gracefulStop) {
  return {
    executor: 'constant-vus',
    exec: name.endsWith('a') ? 'hitA' : 'hitB',
    vus: VUS,
    duration: seconds(durationSeconds),
    startTime: seconds(startSeconds),
    gracefulStop,
  };
}

export const options = {
  scenarios: {
    warmup_a: side('warmup_a', 0, WARMUP_SECONDS, '2s'),
    warmup_b: side('warmup_b', 0, WARMUP_SECONDS, '2s'),
    measure_a: side('measure_a', WARMUP_SECONDS, MEASURE_SECONDS, '5s'),
    measure_b: side('measure_b', WARMUP_SECONDS, MEASURE_SECONDS, '5s'),
  },
  thresholds: {
    // Declaring them keeps the per-side figures in the summary.
    'http_reqs{scenario:measure_a}': ['count>0'],
    'http_reqs{scenario:measure_b}': ['count>0'],
    'http_reqs{scenario:warmup_a}': ['count>=0'],
    'http_reqs{scenario:warmup_b}': ['count>=0'],
    'http_req_failed{scenario:measure_a}': ['rate<0.01'],
    'http_req_failed{scenario:measure_b}': ['rate<0.01'],
  },
};

function hit(url) {
  const response = http.get(url, { tags: { name: ENDPOINT, route: ENDPOINT } });
  check(response, { 'status is 200': (r) => r.status === 200 });
}

export function setup() {
  for (const url of Object.values(URLS)) {
    if (http.get(url).status !== 200) {
      throw new Error(`${url} does not answer 200`);
    }
  }
}

export function hitA() {
  hit(URLS.a);
}

export function hitB() {
  hit(URLS.b);
}

export const handleSummary = summaryWriter('throughput-pair');
