// A spike: a calm baseline, a sudden burst at many times the rate, and back.
// Watch how long latency and the listen backlog take to recover.
import { hit, requireTarget } from './lib/requests.js';
import { numberEnv, seconds } from './lib/config.js';
import { thresholds } from './lib/thresholds.js';
import { summaryWriter } from './lib/summary.js';

const BASE_RATE = numberEnv('BASE_RATE', 5);
const SPIKE_RATE = numberEnv('RATE', 100);
const MAX_VUS = numberEnv('MAX_VUS', 300);

export const options = {
  scenarios: {
    spike: {
      executor: 'ramping-arrival-rate',
      startRate: BASE_RATE,
      timeUnit: '1s',
      preAllocatedVUs: Math.min(MAX_VUS, Math.max(5, SPIKE_RATE)),
      maxVUs: MAX_VUS,
      stages: [
        { duration: seconds(10), target: BASE_RATE },
        { duration: seconds(2), target: SPIKE_RATE },
        { duration: seconds(10), target: SPIKE_RATE },
        { duration: seconds(2), target: BASE_RATE },
        { duration: seconds(15), target: BASE_RATE },
      ],
    },
  },
  thresholds: thresholds({ p95Ms: 5000, maxErrorRate: 0.05 }),
};

export function setup() {
  requireTarget();
}

export default function () {
  hit();
}

export const handleSummary = summaryWriter('spike');
