// A restart under load: a steady open-model arrival rate while `bench
// loadtest --scenario restart` sends the row's server SIGTERM (a graceful
// restart) or SIGKILL (a crash) part-way through, and supervisord starts it
// again. The script only sends the load; the harness sends the signal and
// reads every request's outcome from k6's JSON output (bench/loadtest/restart.py).
// Open model on purpose: arrivals keep coming while the row is down, as a
// real client population's would, so the figures say what users would see.
import { hit, requireTarget } from './lib/requests.js';
import { numberEnv, seconds } from './lib/config.js';
import { summaryWriter } from './lib/summary.js';

const RATE = numberEnv('RATE', 20);
const DURATION_SECONDS = numberEnv('DURATION_SECONDS', 30);
const MAX_VUS = numberEnv('MAX_VUS', 200);

export const options = {
  scenarios: {
    restart: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: seconds(DURATION_SECONDS),
      preAllocatedVUs: Math.min(MAX_VUS, Math.max(5, RATE)),
      maxVUs: MAX_VUS,
    },
  },
  // No thresholds: failures are what this scenario measures, and the harness
  // classifies them; k6 passing or failing an SLO here would mean nothing.
};

export function setup() {
  requireTarget();
}

export default function () {
  hit();
}

export const handleSummary = summaryWriter('restart');
