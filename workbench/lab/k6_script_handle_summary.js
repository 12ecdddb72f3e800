// The lab script (k6_script.js) plus a handleSummary() that writes k6's summary data as JSON to
// SUMMARY_JSON (the handleSummary shape the workbench ingests). k6 prints its own end-of-test summary
// only for scripts without handleSummary, so this one prints a compact rendering of the same data
// (every metric's values and each threshold's result) instead of an empty stdout.
export { options, browse, login } from './k6_script.js';

function num(x) {
  return Number.isInteger(x) ? String(x) : Number(x).toFixed(3);
}

function render(data) {
  const lines = ['', '  summary (handleSummary data; k6 prints its own only without handleSummary)', ''];
  for (const name of Object.keys(data.metrics).sort()) {
    const m = data.metrics[name];
    const v = m.values;
    let text;
    if (m.type === 'trend') {
      const unit = m.contains === 'time' ? 'ms' : '';
      text = Object.keys(v).map((k) => `${k}=${num(v[k])}${k === 'count' ? '' : unit}`).join(' ');
    } else if (m.type === 'counter') {
      text = `${num(v.count)} ${num(v.rate)}/s`;
    } else if (m.type === 'rate') {
      text = `${(100 * v.rate).toFixed(2)}% ${v.passes} out of ${v.passes + v.fails}`;
    } else {
      text = `${num(v.value)} min=${num(v.min)} max=${num(v.max)}`;
    }
    lines.push(`    ${(name + ' ').padEnd(44, '.')}: ${text}`);
    for (const expr of Object.keys(m.thresholds || {})) {
      lines.push(`      ${m.thresholds[expr].ok ? '✓' : '✗'} '${expr}'`);
    }
  }
  return lines.join('\n') + '\n\n';
}

export function handleSummary(data) {
  const out = { stdout: render(data) };
  if (__ENV.SUMMARY_JSON) {
    out[__ENV.SUMMARY_JSON] = JSON.stringify(data);
  }
  return out;
}
