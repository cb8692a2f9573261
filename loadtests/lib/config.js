// Knobs every scenario reads from the environment (k6 -e KEY=VALUE).
// `bench loadtest` sets them; docs/loadtests.md lists them with their defaults.

export function env(name, fallback) {
  const value = __ENV[name];
  return value === undefined || value === '' ? fallback : value;
}

export function numberEnv(name, fallback) {
  const raw = env(name, undefined);
  if (raw === undefined) {
    return fallback;
  }
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) {
    throw new Error(`${name}=${raw} must be a non-negative number`);
  }
  return value;
}

// Every duration in a scenario is multiplied by DURATION_SCALE, so the tests
// can run each scenario's full shape in a few seconds.
const DURATION_SCALE = numberEnv('DURATION_SCALE', 1);

export function seconds(value) {
  return `${Math.max(1, Math.round(value * DURATION_SCALE * 1000))}ms`;
}

export const target = {
  baseUrl: env('BASE_URL', 'http://127.0.0.1:8001'),
  endpoint: env('ENDPOINT', '/io?ms=100'),
  service: env('SERVICE', 'unknown'),
};

export function targetUrl() {
  return `${target.baseUrl}${target.endpoint}`;
}
