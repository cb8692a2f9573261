// Pass/fail criteria per scenario. They mark the run (summary and exit code);
// they never abort it, so a saturated server shows up in the figures.
import { numberEnv } from './config.js';

export function thresholds({ p95Ms, maxErrorRate = 0.01 }) {
  return {
    http_req_failed: [{ threshold: `rate<${maxErrorRate}`, abortOnFail: false }],
    http_req_duration: [{ threshold: `p(95)<${numberEnv('P95_MS', p95Ms)}`, abortOnFail: false }],
  };
}
