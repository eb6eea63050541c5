// Triage dashboard: fetches the JSON API (/v1/dashboard/..., /v1/review, /admin/slos,
// /admin/knobs) and draws every chart
// as inline SVG. Plain browser JavaScript, no build step, no third-party code. Every number
// shown keeps its raw value in a data-value attribute, so tests compare it with the store.
'use strict';

const PALETTE = ['#2f6fdf', '#1f9d63', '#d58a12', '#9b4dca', '#d2443b', '#168a9c', '#7a8599', '#c2589a'];
const SVGNS = 'http://www.w3.org/2000/svg';
const $ = (sel) => document.querySelector(sel);

// ---------- formatting ----------
const nf = new Intl.NumberFormat('en-US');
function fmtInt(v) { return v == null ? '-' : nf.format(v); }
function fmtUsd(v) {
  if (v == null) return '-';
  const a = Math.abs(v);
  if (a >= 1000) return '$' + nf.format(Math.round(v));
  if (a >= 1) return '$' + v.toFixed(2);
  if (a === 0) return '$0';
  return '$' + v.toPrecision(3).replace(/0+$/, '').replace(/\.$/, '');
}
function fmtPct(v, digits = 1) { return v == null ? '-' : (v * 100).toFixed(digits) + '%'; }
function fmtMs(v) {
  if (v == null) return '-';
  if (v >= 1000) return (v / 1000).toFixed(2) + ' s';
  if (v >= 10) return Math.round(v) + ' ms';
  return v.toFixed(2) + ' ms';
}
function fmtTime(ms, spanMs) {
  const d = new Date(ms);
  const hm = d.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
  if (spanMs <= 86400000) return hm;
  return d.toLocaleDateString('en-GB', { month: 'short', day: 'numeric' }) + (spanMs <= 7 * 86400000 ? ' ' + hm : '');
}
function setValue(el, value, text) {
  el.dataset.value = value == null ? '' : String(value);
  el.textContent = text;
}
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v; else if (k === 'text') e.textContent = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}
function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text != null) e.textContent = text;
  return e;
}

// ---------- API ----------
let rangeParams = '';
async function api(path, params = '') {
  const sep = path.includes('?') ? '&' : '?';
  const url = path + (params ? sep + params : '');
  const r = await fetch(url, { headers: { accept: 'application/json' } });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(`${url}: ${r.status} ${body?.error?.message ?? ''}`);
  return body;
}
function computeRange() {
  const v = $('#range').value;
  const now = Date.now();
  rangeParams = v === 'all' ? `from=0&to=${now}` : `from=${now - Number(v)}&to=${now}`;
  rangeTo = now;
}

// ---------- charts ----------
const W = 720, H = 240, M = { l: 56, r: 12, t: 10, b: 26 };
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}
// The container's width in CSS pixels, so an SVG is drawn 1:1 (text keeps its size).
function widthOf(container, fallback) {
  const w = Math.floor(container.getBoundingClientRect().width);
  return w > 100 ? w : fallback;
}
function empty(container, text = 'No requests in this range') {
  container.replaceChildren(el('div', { class: 'empty', text }));
}
function legend(items) {
  const l = el('div', { class: 'legend' });
  for (const it of items) {
    const s = el('span', { text: it.name });
    s.style.setProperty('--c', it.color);
    l.append(s);
  }
  return l;
}
// Lines over time. series: [{name, values (null = gap), color, dash}]
function lineChart(container, xs, series, yFmt, opts = {}) {
  if (!xs.length || !series.some((s) => s.values.some((v) => v != null))) return empty(container);
  const w = opts.width ?? widthOf(container, W), h = opts.height ?? H;
  const all = series.flatMap((s) => s.values.filter((v) => v != null));
  const ymax = niceMax(Math.max(...all));
  const x0 = xs[0], x1 = xs[xs.length - 1] === x0 ? x0 + 1 : xs[xs.length - 1];
  const X = (x) => (xs.length === 1 ? (M.l + w - M.r) / 2 : M.l + ((x - x0) / (x1 - x0)) * (w - M.l - M.r));
  const Y = (y) => h - M.b - (y / ymax) * (h - M.t - M.b);
  const root = svg('svg', { viewBox: `0 0 ${w} ${h}`, role: 'img' });
  for (let i = 0; i <= 4; i++) {
    const v = (ymax * i) / 4;
    root.append(svg('line', { x1: M.l, x2: w - M.r, y1: Y(v), y2: Y(v), stroke: '#e2e5eb' }));
    root.append(svg('text', { x: M.l - 6, y: Y(v) + 4, 'text-anchor': 'end' }, yFmt(v)));
  }
  const span = x1 - x0;
  const ticks = Math.min(6, xs.length);
  for (let i = 0; i < ticks; i++) {
    const x = xs[Math.round((i * (xs.length - 1)) / Math.max(1, ticks - 1))];
    root.append(svg('text', { x: X(x), y: h - 8, 'text-anchor': 'middle' }, fmtTime(x, span)));
  }
  for (const s of series) {
    let d = '';
    let pen = false;
    s.values.forEach((v, i) => {
      if (v == null) { pen = false; return; }
      d += `${pen ? 'L' : 'M'}${X(xs[i]).toFixed(1)},${Y(v).toFixed(1)}`;
      pen = true;
    });
    root.append(svg('path', { d, fill: 'none', stroke: s.color, 'stroke-width': 2, 'stroke-dasharray': s.dash ?? '' }));
    s.values.forEach((v, i) => {
      if (v == null) return;
      const isolated = (i === 0 || s.values[i - 1] == null) && (i === s.values.length - 1 || s.values[i + 1] == null);
      if (isolated) root.append(svg('circle', { cx: X(xs[i]), cy: Y(v), r: 3, fill: s.color }));
    });
  }
  // Buckets end at the last one holding requests: a move after it (still in the selected range)
  // is drawn at the right edge.
  drawKnobMarkers(root, x0, Math.max(rangeTo, xs[xs.length - 1]), (t) => X(Math.min(t, xs[xs.length - 1])), h);
  container.replaceChildren(root, legend(series));
}
// Knob moves (GET /admin/knobs "events": a person, the SLO controller, a rollout) as dashed
// vertical lines on the time series, each with a tooltip of who, why, before and after.
let knobEvents = [];
let rangeTo = 0;  // the selected range's end (computeRange)
function drawKnobMarkers(root, from, to, X, h) {
  for (const e of knobEvents) {
    if (e.ts_ms < from || e.ts_ms > to) continue;
    const g = svg('g', { class: 'knob-marker', 'data-testid': 'knob-marker', 'data-who': e.who, 'data-ts': String(e.ts_ms) });
    g.append(svg('line', { x1: X(e.ts_ms), x2: X(e.ts_ms), y1: M.t, y2: h - M.b, stroke: '#d2443b', 'stroke-dasharray': '4 3', 'stroke-width': 1.5 }));
    g.append(svg('title', {}, `${e.who}: ${e.route} ${e.knob} ${e.before} \u2192 ${e.after}${e.reason ? ' (' + e.reason + ')' : ''}`));
    root.append(g);
  }
}
async function loadKnobEvents() {
  const k = await api('/admin/knobs');
  knobEvents = k.events;
}
async function loadSlos() {
  const s = await api('/admin/slos');
  const tbody = $('#slos-table tbody');
  tbody.replaceChildren();
  $('#slos-note').textContent = s.data.length ? `config version ${s.config_version}` : 'no SLOs in the config (slos:)';
  for (const o of s.data) {
    const tr = el('tr', { 'data-slo': o.name });
    const cell = (field, value, text, cls = 'num') =>
      tr.append(el('td', { class: cls, 'data-field': field, 'data-value': String(value), text }));
    const [kind, name] = Object.entries(o.scope)[0];
    cell('name', o.name, o.name, '');
    cell('scope', `${kind}:${name}`, `${kind} ${name}`, '');
    cell('target', o.target, fmtPct(o.target, 1));
    cell('requests', o.requests, fmtInt(o.requests));
    cell('success', o.success_ratio, fmtPct(o.success_ratio, 1),
      o.success_ratio == null ? 'num' : o.success_ratio < o.target ? 'num bad' : 'num ok');
    cell('burn_rate', o.burn_rate, o.burn_rate == null ? '-' : o.burn_rate.toFixed(2) + '\u00d7',
      o.burn_rate != null && o.burn_rate > 1 ? 'num bad' : 'num');
    cell('budget_remaining', o.budget_remaining, fmtPct(o.budget_remaining, 0));
    const a = o.action, c = o.controller;
    cell('knob', a ? `${a.route}/${a.knob}` : '', a ? `${a.route} ${a.knob} \u2192 ${a.toward}` : '-', '');
    cell('position', c?.position ?? '', c ? `${c.position ?? c.file_value} (file ${c.file_value})` : '-');
    cell('controller', c ? c.verdict : '', c ? `${o.mode}: ${c.verdict.replace('_', ' ')}${c.held_by ? ', ' + c.held_by.replace('_', ' ') : ''}` : o.mode, '');
    tbody.append(tr);
  }
}
// Stacked columns over time. series: [{name, values, color}]
function stackedColumns(container, xs, series, yFmt) {
  const totals = xs.map((_, i) => series.reduce((a, s) => a + (s.values[i] || 0), 0));
  if (!xs.length || !totals.some((t) => t > 0)) return empty(container);
  const w = widthOf(container, 420), h = H;
  const ymax = niceMax(Math.max(...totals));
  const slot = (w - M.l - M.r) / xs.length;
  const bw = Math.min(slot, 60);
  const x0 = M.l + (slot - bw) / 2;
  const Y = (y) => h - M.b - (y / ymax) * (h - M.t - M.b);
  const root = svg('svg', { viewBox: `0 0 ${w} ${h}`, role: 'img' });
  for (let i = 0; i <= 4; i++) {
    const v = (ymax * i) / 4;
    root.append(svg('line', { x1: M.l, x2: w - M.r, y1: Y(v), y2: Y(v), stroke: '#e2e5eb' }));
    root.append(svg('text', { x: M.l - 6, y: Y(v) + 4, 'text-anchor': 'end' }, yFmt(v)));
  }
  xs.forEach((x, i) => {
    let base = 0;
    for (const s of series) {
      const v = s.values[i] || 0;
      if (v <= 0) continue;
      const r = svg('rect', { x: x0 + i * slot + bw * 0.1, width: Math.max(1, bw * 0.8), y: Y(base + v), height: Y(base) - Y(base + v), fill: s.color });
      r.append(svg('title', {}, `${s.name}: ${yFmt(v)}`));
      root.append(r);
      base += v;
    }
  });
  const span = xs[xs.length - 1] - xs[0];
  root.append(svg('text', { x: M.l, y: h - 8 }, fmtTime(xs[0], span)));
  root.append(svg('text', { x: w - M.r, y: h - 8, 'text-anchor': 'end' }, fmtTime(xs[xs.length - 1], span)));
  container.replaceChildren(root, legend(series));
}
// Horizontal bars: rows [{label, value, text, color, marker (0..max), markerLabel}]
function hBars(container, rows, max, opts = {}) {
  if (!rows.length) return empty(container, opts.emptyText);
  const w = widthOf(container, 420), rowH = 26, lw = opts.labelWidth ?? 130, tw = 150;
  const h = rows.length * rowH + 8;
  const root = svg('svg', { viewBox: `0 0 ${w} ${h}`, role: 'img' });
  const bwMax = w - lw - tw;
  rows.forEach((r, i) => {
    const y = 4 + i * rowH;
    root.append(svg('text', { x: lw - 8, y: y + 15, 'text-anchor': 'end', class: 'label' }, r.label));
    root.append(svg('rect', { x: lw, y: y + 3, width: bwMax, height: rowH - 8, fill: '#f0f2f5' }));
    const bw = max > 0 ? Math.max(0, Math.min(1, r.value / max)) * bwMax : 0;
    root.append(svg('rect', { x: lw, y: y + 3, width: bw, height: rowH - 8, fill: r.color ?? PALETTE[0] }));
    if (r.marker != null && max > 0) {
      const mx = lw + Math.min(1, r.marker / max) * bwMax;
      root.append(svg('line', { x1: mx, x2: mx, y1: y, y2: y + rowH - 2, stroke: '#1d2330', 'stroke-width': 2 }));
    }
    const t = svg('text', { x: lw + bwMax + 8, y: y + 15, class: 'label' }, r.text);
    if (r.testid) t.setAttribute('data-testid', r.testid);
    if (r.raw != null) t.setAttribute('data-value', String(r.raw));
    root.append(t);
  });
  container.replaceChildren(root);
}

// ---------- sections ----------
async function loadSummary() {
  const s = await api('/v1/dashboard/summary', rangeParams);
  setValue($('[data-testid=requests]'), s.requests, fmtInt(s.requests));
  setValue($('[data-testid=errors]'), s.errors, `${fmtInt(s.errors)} errors (${fmtPct(s.error_rate)})`);
  setValue($('[data-testid=total-cost]'), s.cost_usd, fmtUsd(s.cost_usd));
  setValue($('[data-testid=tokens]'), s.tokens_in + s.tokens_out, `${fmtInt(s.tokens_in)} in / ${fmtInt(s.tokens_out)} out tokens`);
  setValue($('[data-testid=cpi]'), s.cpi_usd, fmtUsd(s.cpi_usd));
  const refCpi = s.counterfactual_cost_usd != null && s.requests ? s.counterfactual_cost_usd / s.requests : null;
  setValue($('[data-testid=cpi-ref]'), refCpi, s.reference_model ? `${fmtUsd(refCpi)} if all on ${s.reference_model}` : '');
  setValue($('[data-testid=savings-usd]'), s.savings_usd, fmtUsd(s.savings_usd));
  setValue($('[data-testid=savings-pct]'), s.savings_pct, s.savings_pct == null ? '-' :
    `${s.savings_pct.toFixed(1)}% of ${fmtUsd(s.counterfactual_cost_usd)} on ${s.reference_model}`);
  setValue($('[data-testid=projected]'), s.projected_monthly_cost_usd, fmtUsd(s.projected_monthly_cost_usd));
  const basis = s.rate_window_ms ? `30 days at the rate of the last ${fmtDuration(s.rate_window_ms)}` : '';
  setValue($('[data-testid=projected-basis]'), s.rate_window_ms, basis);
  tiers = s.tiers ?? tiers;
}
function fmtDuration(ms) {
  if (ms < 3600000) return Math.round(ms / 60000) + ' min';
  if (ms < 2 * 86400000) return (ms / 3600000).toFixed(1) + ' h';
  return (ms / 86400000).toFixed(1) + ' days';
}
async function loadCpi() {
  const by = $('#cpi-by').value;
  const t = await api(`/v1/dashboard/timeseries?metric=cpi&by=${by}`, rangeParams);
  const series = t.series.map((s, i) => ({ name: s.key, values: s.cpi_usd, color: PALETTE[i % PALETTE.length] }));
  lineChart($('#cpi-chart'), t.buckets, series, fmtUsd);
}
async function loadCostSplit() {
  const t = await api('/v1/dashboard/timeseries?metric=cost&by=model', rangeParams);
  const total = t.series.reduce((a, s) => a + s.cost_usd.reduce((x, y) => x + y, 0), 0);
  const rows = t.series.map((s, i) => {
    const c = s.cost_usd.reduce((x, y) => x + y, 0);
    return { label: s.key, value: c, raw: c, text: `${fmtUsd(c)} (${fmtPct(total ? c / total : null, 0)})`, color: PALETTE[i % PALETTE.length], testid: `cost-${s.key}` };
  }).sort((a, b) => b.value - a.value);
  hBars($('#cost-split'), rows, rows.length ? rows[0].value : 0);
}
async function loadLatency() {
  const t = await api('/v1/dashboard/timeseries?metric=latency', rangeParams);
  const tot = t.parts.total;
  const has = t.requests.map((n) => n > 0);
  const mask = (arr) => arr.map((v, i) => (has[i] ? v : null));
  lineChart($('#latency-chart'), t.buckets, [
    { name: 'p50', values: mask(tot.p50_ms), color: PALETTE[0] },
    { name: 'p95', values: mask(tot.p95_ms), color: PALETTE[2] },
    { name: 'p99', values: mask(tot.p99_ms), color: PALETTE[4] },
  ], fmtMs);
  const parts = ['routing', 'queue', 'upstream', 'overhead'];
  stackedColumns($('#latency-parts'), t.buckets, parts.map((p, i) => ({
    name: p === 'upstream' ? 'upstream (model)' : p, values: mask(t.parts[p].mean_ms), color: PALETTE[[3, 2, 0, 6][i]],
  })), fmtMs);
}
let tiers = ['small', 'medium', 'large'];
async function loadModels() {
  const m = await api('/v1/dashboard/models', rangeParams);
  $('#slo-note').textContent = `SLO: ${fmtPct(m.slo_target, 2)} success (5xx count against it); | = target`;
  const active = m.models.filter((r) => r.requests > 0);
  hBars($('#slo-chart'), active.map((r) => ({
    label: r.model, value: r.success_rate, raw: r.success_rate, marker: r.slo_target,
    color: r.meets_slo ? '#1f9d63' : '#d2443b', testid: `success-${r.model}`,
    text: `${fmtPct(r.success_rate, 2)} · burn ${r.error_budget_burn == null ? '-' : r.error_budget_burn.toFixed(1) + 'x'}`,
  })), 1, { labelWidth: 140 });
  const tbody = $('#models tbody');
  tbody.replaceChildren();
  for (const r of m.models) {
    const tr = el('tr', { 'data-model': r.model });
    const cell = (field, value, text, cls = 'num') => {
      const td = el('td', { class: cls, 'data-field': field, 'data-value': value == null ? '' : String(value), text });
      tr.append(td);
      return td;
    };
    cell('model', r.model, r.model, '');
    cell('tier', r.tier, r.tier ?? '-', '');
    cell('requests', r.requests, fmtInt(r.requests));
    cell('throughput', r.throughput_tokens_per_s, r.throughput_tokens_per_s == null ? '-' : r.throughput_tokens_per_s.toFixed(1));
    cell('error_rate', r.error_rate, fmtPct(r.error_rate, 2), r.error_rate > 1 - m.slo_target ? 'num bad' : 'num');
    cell('timeout_rate', r.timeout_rate, fmtPct(r.timeout_rate, 2));
    cell('availability', r.availability, fmtPct(r.availability, 2));
    cell('success_rate', r.success_rate, fmtPct(r.success_rate, 2), r.meets_slo === false ? 'num bad' : 'num ok');
    cell('burn', r.error_budget_burn, r.error_budget_burn == null ? '-' : r.error_budget_burn.toFixed(2) + 'x',
      r.error_budget_burn > 1 ? 'num bad' : 'num');
    cell('cpi', r.cpi_usd, fmtUsd(r.cpi_usd));
    cell('cost', r.cost_usd, fmtUsd(r.cost_usd));
    tbody.append(tr);
  }
}
// Live state, not the time range: what the circuits and retry budgets are doing now.
async function loadUpstreams() {
  const u = await api('/v1/dashboard/upstreams');
  $('#upstreams-note').textContent = u.open_circuits
    ? `${u.open_circuits} circuit(s) not closed` : 'every circuit closed';
  const tbody = $('#upstreams-table tbody');
  tbody.replaceChildren();
  for (const m of u.models) {
    for (const d of m.deployments) {
      const tr = el('tr', { 'data-model': m.model, 'data-deployment': d.name });
      const cell = (field, value, text, cls = 'num') =>
        tr.append(el('td', { class: cls, 'data-field': field, 'data-value': String(value), text }));
      cell('model', m.model, m.model, '');
      cell('deployment', d.name, d.name, '');
      cell('state', d.state, d.state.replace('_', '-'), d.state === 'closed' ? 'ok' : 'bad');
      cell('opens', d.opens, fmtInt(d.opens));
      cell('retry_after_ms', d.retry_after_ms, d.retry_after_ms ? fmtMs(d.retry_after_ms) : '-');
      cell('latency_ms', d.latency_ms, fmtMs(d.latency_ms));
      cell('in_flight', d.in_flight, fmtInt(d.in_flight));
      cell('retries', d.retry_budget.retries, `${fmtInt(d.retry_budget.retries)} of ${fmtInt(d.retry_budget.allowed)}`);
      // The deployment's own gate when it has one, else the model's (shared by its deployments).
      const gate = d.gate.limit ? d.gate : m.gate;
      cell('waiting', gate.waiting, gate.limit ? `${gate.in_use}/${gate.limit} +${gate.waiting}` : '-');
      tbody.append(tr);
    }
  }
}
async function loadFunnel() {
  const f = await api('/v1/dashboard/funnel', rangeParams);
  const box = $('#funnel');
  if (!f.routes.length) return empty(box, 'No cascade requests in this range');
  box.replaceChildren();
  for (const r of f.routes) {
    box.append(el('div', { class: 'muted', text: `${r.route}: ${fmtInt(r.requests)} requests${f.truncated ? ` (newest ${fmtInt(f.limit)})` : ''}` }));
    const holder = el('div');
    box.append(holder);
    hBars(holder, r.steps.map((s, i) => ({
      label: `${s.step}: ${s.name || 'step ' + s.step}`, value: s.reached, raw: s.stopped,
      text: `reached ${fmtInt(s.reached)}, stopped ${fmtInt(s.stopped)}`, color: PALETTE[i % PALETTE.length],
    })), r.requests);
  }
}
async function loadConfidence() {
  const c = await api('/v1/dashboard/confidence', rangeParams);
  $('#conf-note').textContent = `${fmtInt(c.with_confidence)} classified requests`;
  const box = $('#confidence');
  if (!c.with_confidence) empty(box, 'No classifier decisions in this range');
  else {
    const w = widthOf(box, W), h = 200;
    const max = niceMax(Math.max(...c.histogram.map((b) => b.count)));
    const bw = (w - M.l - M.r) / c.histogram.length;
    const Y = (y) => h - M.b - (y / max) * (h - M.t - M.b);
    const root = svg('svg', { viewBox: `0 0 ${w} ${h}`, role: 'img' });
    for (let i = 0; i <= 4; i++) {
      const v = (max * i) / 4;
      root.append(svg('line', { x1: M.l, x2: w - M.r, y1: Y(v), y2: Y(v), stroke: '#e2e5eb' }));
      root.append(svg('text', { x: M.l - 6, y: Y(v) + 4, 'text-anchor': 'end' }, fmtInt(Math.round(v))));
    }
    c.histogram.forEach((b, i) => {
      const r = svg('rect', { x: M.l + i * bw + 1, width: bw - 2, y: Y(b.count), height: Y(0) - Y(b.count), fill: PALETTE[5] });
      r.append(svg('title', {}, `${b.lo.toFixed(2)}-${b.hi.toFixed(2)}: ${b.count}`));
      root.append(r);
      if (i % 4 === 0) root.append(svg('text', { x: M.l + i * bw, y: h - 8 }, b.lo.toFixed(1)));
    });
    root.append(svg('text', { x: w - M.r, y: h - 8, 'text-anchor': 'end' }, '1.0'));
    box.replaceChildren(root);
  }
  const q = c.routing;
  const stat = (id, value, label) => {
    const s = el('div', { class: 'stat' }, el('b', { 'data-testid': id, 'data-value': value == null ? '' : String(value), text: value == null ? '-' : fmtPct(value) }), el('span', { text: label }));
    return s;
  };
  $('#routing').replaceChildren(
    stat('routing-accuracy', q.accuracy, 'routed to the right tier'),
    stat('over-routing', q.over_routing_rate, 'over-routed (a cheaper tier would do)'),
    stat('under-routing', q.under_routing_rate, 'under-routed (wrong or too small)'),
    el('div', { class: 'stat' }, el('b', { 'data-testid': 'labeled', 'data-value': String(q.labeled), text: fmtInt(q.labeled) }), el('span', { text: 'labeled requests' })),
  );
}

// ---------- review queue ----------
let reviewCursor = null;
let selectedId = null;
async function loadReview(append = false) {
  const params = new URLSearchParams({ status: $('#review-status').value, limit: '25' });
  if ($('#review-reason').value) params.set('reason', $('#review-reason').value);
  if (append && reviewCursor) params.set('cursor', reviewCursor);
  const page = await api('/v1/review?' + params.toString());
  const tbody = $('#review-list tbody');
  if (!append) tbody.replaceChildren();
  for (const it of page.items) {
    const tr = el('tr', { 'data-request-id': it.request_id });
    tr.append(el('td', { text: new Date(it.ts_ms).toLocaleString('en-GB') }));
    const reasons = el('td');
    for (const r of it.reasons) reasons.append(el('span', { class: 'tag', text: r }));
    tr.append(reasons, el('td', { text: it.route || '-' }), el('td', { text: it.model || '-' }),
      el('td', { text: it.category || '-' }), el('td', { class: 'num', text: fmtUsd(it.cost_usd) }),
      el('td', { 'data-field': 'status', text: it.status ?? '-' }));
    if (it.request_id === selectedId) tr.classList.add('selected');
    tr.addEventListener('click', () => openReview(it.request_id));
    tbody.append(tr);
  }
  if (!append && !page.items.length) tbody.append(el('tr', {}, el('td', { colspan: '7', class: 'muted', text: 'Nothing to review' })));
  reviewCursor = page.next_cursor;
  $('#review-more').hidden = !reviewCursor;
}
async function openReview(id) {
  selectedId = id;
  for (const tr of document.querySelectorAll('#review-list tbody tr')) tr.classList.toggle('selected', tr.dataset.requestId === id);
  const d = await api('/v1/review/' + encodeURIComponent(id));
  const box = $('#review-detail');
  box.hidden = false;
  const kv = el('dl', { class: 'kv' });
  const add = (k, v) => kv.append(el('dt', { text: k }), el('dd', { text: v }));
  add('request', d.request_id);
  add('route / model', `${d.route || '(direct)'} → ${d.model || '-'} (${d.tier || '-'})`);
  add('category', d.category || '-');
  add('cost', fmtUsd(d.cost_usd));
  add('tokens', `${fmtInt(d.tokens_in)} in / ${fmtInt(d.tokens_out)} out`);
  add('latency', fmtMs(d.total_us / 1000));
  add('status', `${d.http_status}${d.error_code ? ' ' + d.error_code : ''}`);
  if (d.label) add('classifier', `${d.label} (${d.confidence == null ? '-' : d.confidence.toFixed(2)})`);
  add('reasons', (d.reasons || []).join(', ') || '-');
  const parts = [el('h3', { text: 'Request' }), kv];
  if (d.payload) {
    parts.push(el('h3', { text: 'Prompt' }));
    for (const m of d.payload.messages || []) {
      const text = typeof m.content === 'string' ? m.content : JSON.stringify(m.content);
      parts.push(el('pre', { text: `${m.role}: ${text}` }));
    }
    parts.push(el('h3', { text: 'Attempts' }));
    for (const a of d.payload.attempts || []) {
      parts.push(el('div', { class: 'attempt' }, el('div', { text: `${a.model} (${a.tier}) ${a.ok ? 'ok' : 'failed'}` }), el('pre', { text: a.output ?? '' })));
    }
  } else {
    parts.push(el('p', { class: 'muted', text: 'Prompt and answers were not stored (store.keep_payloads is off).' }));
  }
  parts.push(el('h3', { text: 'Spans: calls and checks' }));
  const spans = el('table', { class: 'table' }, el('thead', {}, el('tr', {}, el('th', { text: 'kind' }), el('th', { text: 'name' }), el('th', { text: 'detail' }), el('th', { class: 'num', text: 'ms' }), el('th', { class: 'num', text: 'cost' }), el('th', { text: 'ok' }))));
  const sb = el('tbody');
  for (const s of d.spans || []) {
    sb.append(el('tr', {}, el('td', { text: s.kind }), el('td', { text: s.name }), el('td', { text: s.detail }),
      el('td', { class: 'num', text: (s.duration_us / 1000).toFixed(1) }), el('td', { class: 'num', text: fmtUsd(s.cost_usd) }),
      el('td', { text: s.ok ? 'yes' : s.error || 'no' })));
  }
  spans.append(sb);
  parts.push(el('div', { style: 'overflow-x:auto' }, spans));
  if (d.labels?.length) {
    parts.push(el('h3', { text: 'Labels' }));
    for (const l of d.labels) parts.push(el('div', { class: 'muted', text: `${l.verdict}${l.sufficient_tier ? ', sufficient: ' + l.sufficient_tier : ''}${l.reviewer ? ' by ' + l.reviewer : ''}` }));
  }
  parts.push(labelForm(d));
  box.replaceChildren(...parts);
}
function labelForm(d) {
  const form = el('form', { class: 'label-form', 'data-testid': 'label-form' });
  const verdict = el('div', { class: 'row' }, el('b', { text: 'Label' }));
  for (const v of ['correct', 'incorrect']) {
    verdict.append(el('label', {}, el('input', { type: 'radio', name: 'verdict', value: v }), ' ' + v));
  }
  const tierSel = el('select', { name: 'sufficient_tier' }, el('option', { value: '', text: '(not sure)' }));
  for (const t of tiers) tierSel.append(el('option', { value: t, text: t }));
  const reviewer = el('input', { name: 'reviewer', placeholder: 'your name', size: '12' });
  const row2 = el('div', { class: 'row' }, el('label', {}, 'cheapest sufficient tier ', tierSel), el('label', {}, 'reviewer ', reviewer));
  const corrected = el('textarea', { name: 'corrected_answer', placeholder: 'corrected answer (optional)' });
  const status = el('span', { 'data-testid': 'label-status' });
  const submit = el('button', { type: 'submit', text: 'Save label' });
  form.append(verdict, row2, corrected, el('div', { class: 'row' }, submit, status));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const fd = new FormData(form);
    if (!fd.get('verdict')) { status.textContent = 'choose correct or incorrect'; return; }
    const body = { verdict: fd.get('verdict') };
    for (const k of ['sufficient_tier', 'corrected_answer', 'reviewer']) if (fd.get(k)) body[k] = fd.get(k);
    const r = await fetch(`/v1/review/${encodeURIComponent(d.request_id)}/label`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    const res = await r.json().catch(() => ({}));
    if (!r.ok) { status.textContent = res?.error?.message ?? `error ${r.status}`; return; }
    status.textContent = `saved (label ${res.id})`;
    status.className = 'saved';
    await Promise.all([loadReview(), loadConfidence()]);
    await openReview(d.request_id);
    $('[data-testid=label-status]').textContent = `saved (label ${res.id})`;
    $('[data-testid=label-status]').className = 'saved';
  });
  return form;
}

// ---------- wiring ----------
async function refresh() {
  computeRange();
  const err = $('#error');
  // Knob events first: the time series draw them as markers.
  const events = await Promise.allSettled([loadKnobEvents()]);
  const results = events.concat(await Promise.allSettled([loadSummary(), loadCpi(), loadCostSplit(),
    loadLatency(), loadModels(), loadUpstreams(), loadSlos(), loadFunnel(), loadConfidence(), loadReview()]));
  const failed = results.filter((r) => r.status === 'rejected').map((r) => r.reason.message);
  err.hidden = !failed.length;
  err.textContent = failed.join('; ');
  $('#updated').textContent = 'updated ' + new Date().toLocaleTimeString('en-GB');
  document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
}
$('#range').addEventListener('change', refresh);
$('#refresh').addEventListener('click', refresh);
$('#cpi-by').addEventListener('change', () => loadCpi().catch((e) => { $('#error').hidden = false; $('#error').textContent = e.message; }));
$('#review-status').addEventListener('change', () => loadReview());
$('#review-reason').addEventListener('change', () => loadReview());
$('#review-more').addEventListener('click', () => loadReview(true));
refresh();
