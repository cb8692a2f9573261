// Closed model: VUs step up. Each VU waits for its answer before it asks
// again, so a slow server slows the load down with it (throughput flattens,
// latency grows with VUs / capacity: Little's law).
import { hit, requireTarget } from './lib/requests.js';
import { numberEnv } from './lib/config.js';
import { steppedStages } from './lib/shapes.js';
import { thresholds } from './lib/thresholds.js';
import { summaryWriter } from './lib/summary.js';

const MAX_VUS = numberEnv('VUS', 20);
const STEPS = numberEnv('STEPS', 4);
const STEP_SECONDS = numberEnv('STEP_SECONDS', 15);

const stages = steppedStages(MAX_VUS, STEPS, STEP_SECONDS);

export const options = {
  scenarios: { ramp: { executor: 'ramping-vus', startVUs: 1, stages, gracefulRampDown: '5s' } },
  thresholds: thresholds({ p95Ms: 2000 }),
};

export function setup() {
  requireTarget();
}

export default function () {
  hit();
}

export const handleSummary = summaryWriter('ramp');
