// Closed-loop maximum throughput: VUS users send requests back to back for
// MEASURE_SECONDS, after WARMUP_SECONDS that are not counted. Used by
// `bench overhead` (instrumentation on vs off); the figures that count are
// the `{scenario:measure}` submetrics.
import { hit, requireTarget } from './lib/requests.js';
import { numberEnv, seconds } from './lib/config.js';
import { summaryWriter } from './lib/summary.js';

const VUS = numberEnv('VUS', 8);
const WARMUP_SECONDS = numberEnv('WARMUP_SECONDS', 1);
const MEASURE_SECONDS = numberEnv('MEASURE_SECONDS', 5);

export const options = {
  scenarios: {
    // In-flight warm-up requests may finish (they take milliseconds): cutting
    // them off mid-request can leave a sync worker reading a dead connection.
    warmup: { executor: 'constant-vus', vus: VUS, duration: seconds(WARMUP_SECONDS), gracefulStop: '2s' },
    measure: {
      executor: 'constant-vus',
      vus: VUS,
      duration: seconds(MEASURE_SECONDS),
      startTime: seconds(WARMUP_SECONDS),
      gracefulStop: '5s',
    },
  },
  thresholds: {
    // Declaring them keeps the measure-only figures in the summary.
    'http_reqs{scenario:measure}': ['count>0'],
    'http_req_duration{scenario:measure}': ['max>=0'],
    'http_req_failed{scenario:measure}': ['rate<0.01'],
  },
};

export function setup() {
  requireTarget();
}

export default function () {
  hit();
}

export const handleSummary = summaryWriter('throughput');
