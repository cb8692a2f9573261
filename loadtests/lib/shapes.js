// Load shapes shared by the scenarios.
import { seconds } from './config.js';

// `steps` equal steps up to `top` (VUs or arrivals/s): a 1 s ramp to each
// level, then `stepSeconds` held there. Durations honour DURATION_SCALE.
export function steppedStages(top, steps, stepSeconds) {
  const stages = [];
  for (let step = 1; step <= steps; step += 1) {
    const level = Math.max(1, Math.round((top * step) / steps));
    stages.push({ duration: seconds(1), target: level }, { duration: seconds(stepSeconds), target: level });
  }
  return stages;
}
