// The one request every scenario sends, and the fail-fast target check.
import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';
import { target, targetUrl } from './config.js';

// The route template, not the URL with its query: keeps k6's series bounded.
const ROUTE = target.endpoint.split('?')[0];

export function hit(extraTags = {}) {
  const response = http.get(targetUrl(), {
    tags: { name: ROUTE, route: ROUTE, ...extraTags },
    timeout: '90s',
  });
  check(response, { 'status is 200': (r) => r.status === 200 });
  return response;
}

// setup(): stop at once, with the URL, when the target does not answer.
export function requireTarget() {
  const url = `${target.baseUrl}/health`;
  const response = http.get(url, { timeout: '5s', tags: { name: 'setup' } });
  if (response.status !== 200) {
    exec.test.abort(
      `target ${target.service} does not answer at ${url} (status ${response.status}): ` +
        'is the stack up? run `make up`',
    );
  }
}
