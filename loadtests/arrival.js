// Open model: the arrival rate steps up whatever the server does. When the
// server saturates, requests queue (latency climbs) and k6 runs out of VUs
// to send new ones: those show as dropped_iterations instead of being hidden.
import { hit, requireTarget } from './lib/requests.js';
import { numberEnv } from './lib/config.js';
import { steppedStages } from './lib/shapes.js';
import { thresholds } from './lib/thresholds.js';
import { summaryWriter } from './lib/summary.js';

const MAX_RATE = numberEnv('RATE', 50);
const STEPS = numberEnv('STEPS', 4);
const STEP_SECONDS = numberEnv('STEP_SECONDS', 15);
const MAX_VUS = numberEnv('MAX_VUS', 200);

const stages = steppedStages(MAX_RATE, STEPS, STEP_SECONDS);

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
