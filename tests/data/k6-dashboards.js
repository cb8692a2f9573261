// k6 run for tests/test_dashboards_live.py: an open model that outgrows its two
// VUs, so k6 pushes every series the dashboard reads, dropped iterations
// included. The test passes BASE_URL and tags every sample with testid and
// service on the command line.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  scenarios: {
    arrivals: {
      executor: 'constant-arrival-rate',
      rate: 30,
      timeUnit: '1s',
      duration: '5s',
      preAllocatedVUs: 2,
      maxVUs: 2,
    },
  },
};

export default function () {
  const response = http.get(`${__ENV.BASE_URL}/io?ms=200`, { timeout: '5s' });
  check(response, { 'status is 200': (r) => r.status === 200 });
}
