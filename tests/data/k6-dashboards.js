// k6 run for tests/test_dashboards_live.py, the dense run: an open model that
// outgrows its two VUs, so k6 pushes every series the dashboards read, dropped
// iterations included, and a few requests to a path the row does not serve, so
// the failed-request series (expected_response="false") exist for every push
// (Grafana's k6 dashboard 18030 reads them too). The test passes BASE_URL and
// tags every sample with testid and service on the command line.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  scenarios: {
    arrivals: {
      executor: 'constant-arrival-rate',
      exec: 'io',
      rate: 30,
      timeUnit: '1s',
      duration: '5s',
      preAllocatedVUs: 2,
      maxVUs: 2,
    },
    failures: {
      executor: 'constant-arrival-rate',
      exec: 'missing',
      rate: 3,
      timeUnit: '1s',
      duration: '5s',
      preAllocatedVUs: 1,
      maxVUs: 1,
    },
  },
};

export function io() {
  const response = http.get(`${__ENV.BASE_URL}/io?ms=200`, { timeout: '5s' });
  check(response, { 'status is 200': (r) => r.status === 200 });
}

// A 404: k6 counts it as failed (expected statuses are 200-399).
export function missing() {
  http.get(`${__ENV.BASE_URL}/no-such-page`, { timeout: '5s' });
}
