// Open model: the arrival rate steps up whatever the server does. When the
// server saturates, requests queue (latency climbs) and k6 runs out of VUs
// to send new ones: those show as dropped_iterations instead of being hidden.
import { hit, requireTarget } from './lib/requests.js';
import { numberEnv, seconds } from './lib/config.js';
import { thresholds } from './lib/thresholds.js';
import { summaryWriter } from './lib/summary.js';

const MAX_RATE = numberEnv('RATE', 50);
const STEPS = numberEnv('STEPS', 4);
const STEP_SECONDS = numberEnv('STEP_SECONDS', 15);
const MAX_VUS = numberEnv('MAX_VUS', 200);

const stages = [];
for (let step = 1; step <= STEPS; step += 1) {
  const rate = Math.max(1, Math.round((MAX_RATE * step) / STEPS));
  stages.push({ duration: seconds(1), target: rate }, { duration: seconds(STEP_SECONDS), target: rate });
}

export const options = {
  scenarios: {
    arrival: {
      executor: 'ramping-arrival-rate',
      startRate: 1,
      timeUnit: '1s',
      preAllocatedVUs: Math.min(MAX_VUS, Math.max(5, MAX_RATE)),
      maxVUs: MAX_VUS,
      stages,
    },
  },
  thresholds: { ...thresholds({ p95Ms: 2000 }), dropped_iterations: [{ threshold: 'count<1', abortOnFail: false }] },
};

export function setup() {
  requireTarget();
}

export default function () {
  hit();
}

export const handleSummary = summaryWriter('arrival');
