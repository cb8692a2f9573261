// handleSummary: k6's full JSON summary to SUMMARY_PATH, a short text to stdout.

function fmt(value, digits = 1) {
  return value === undefined ? '-' : Number(value).toFixed(digits);
}

function line(data, name, unit = 'ms') {
  const metric = data.metrics[name];
  if (!metric) {
    return '';
  }
  const v = metric.values;
  if (metric.type === 'counter') {
    return `  ${name}: ${v.count} (${fmt(v.rate)}/s)\n`;
  }
  if (metric.type === 'rate') {
    return `  ${name}: ${fmt(v.rate * 100, 2)}%\n`;
  }
  if (metric.type === 'gauge') {
    return `  ${name}: ${v.value} (max ${v.max})\n`;
  }
  return `  ${name}: p50=${fmt(v.med)}${unit} p95=${fmt(v['p(95)'])}${unit} max=${fmt(v.max)}${unit}\n`;
}

export function summaryWriter(scenario, extraLines = () => '') {
  return function handleSummary(data) {
    let text = `\n${scenario} against ${__ENV.SERVICE} ${__ENV.ENDPOINT}\n`;
    for (const name of ['http_reqs', 'http_req_duration', 'http_req_failed', 'iterations', 'dropped_iterations', 'vus_max']) {
      text += line(data, name);
    }
    text += extraLines(data);
    const outputs = { stdout: text };
    if (__ENV.SUMMARY_PATH) {
      outputs[__ENV.SUMMARY_PATH] = JSON.stringify(data, null, 2);
    }
    return outputs;
  };
}
