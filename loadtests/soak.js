// Soak: a steady, moderate arrival rate for a long time (30 min by default).
// Flat latency and memory mean no leak; a creeping p95 means queueing or one.
import { hit, requireTarget } from './lib/requests.js';
import { numberEnv, seconds } from './lib/config.js';
import { thresholds } from './lib/thresholds.js';
import { summaryWriter } from './lib/summary.js';

const RATE = numberEnv('RATE', 10);
const SOAK_SECONDS = numberEnv('SOAK_SECONDS', 1800);
const MAX_VUS = numberEnv('MAX_VUS', 100);

export const options = {
  scenarios: {
    soak: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: seconds(SOAK_SECONDS),
      preAllocatedVUs: Math.min(MAX_VUS, Math.max(5, RATE)),
      maxVUs: MAX_VUS,
    },
  },
  thresholds: thresholds({ p95Ms: 2000 }),
};

export function setup() {
  requireTarget();
}

export default function () {
  hit();
}

export const handleSummary = summaryWriter('soak');
