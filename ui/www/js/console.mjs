// The operations console: per domain, the five operating metrics over time
// (GET /v1/domains/{d}/report/series), the versions in force, retrain jobs and the audit chain.
import { html, useState, useMemo, usePoll, ErrorBanner } from './ui.mjs';
import { get, post, query, seg } from './api.mjs';
import { Chart } from './charts.mjs';
import { pct, num, time } from './format.mjs';

const RANGES = {
  hour: { label: 'last hour', span: 3600e3, bucket: 60e3 },
  day: { label: 'last day', span: 86400e3, bucket: 1800e3 },
  month: { label: 'last 30 days', span: 30 * 86400e3, bucket: 86400e3 },
};

const percent = (v) => (100 * v).toFixed(0) + '%';
const seconds = (v) => (v >= 3600 ? (v / 3600).toFixed(1) + 'h' : v >= 60 ? (v / 60).toFixed(1) + 'm' : v.toFixed(v < 10 ? 1 : 0) + 's');
const UNIT = [0, 1];  // rates in 0..1 keep their scale whatever the data
const plain = (v) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2));
const count = (v) => (Number.isInteger(v) ? String(v) : '');
const stepText = (ms) => (ms >= 86400e3 ? ms / 86400e3 + ' d' : ms >= 3600e3 ? ms / 3600e3 + ' h' : ms >= 60e3 ? ms / 60e3 + ' min' : ms / 1000 + ' s');
const field = (buckets, f) => buckets.map((b) => { const v = f(b); return v === undefined ? null : v; });

// The keys of a per-bucket map (reasons, groups) over all buckets, most frequent first.
function keysOf(buckets, get, max = 6) {
  const n = new Map();
  for (const b of buckets) for (const [k, v] of Object.entries(get(b) || {})) n.set(k, (n.get(k) || 0) + (v || 0));
  return [...n.entries()].sort((a, b) => b[1] - a[1]).slice(0, max).map(([k]) => k);
}

function chartsOf(s) {
  const b = s.buckets;
  const reasons = keysOf(b, (x) => x.flag_reasons);
  const groups = keysOf(b, (x) => x.group_flag_rates, 8);
  return [
    { id: 'chart-flag', title: 'Flag rate, by reason', format: percent, range: UNIT, series: [
      { label: 'all', values: field(b, (x) => x.flag_rate) },
      ...reasons.map((r) => ({ label: r, values: field(b, (x) => (x.predictions ? (x.flag_reasons[r] || 0) / x.predictions : null)) }))] },
    { id: 'chart-queue', title: 'Queue depth by priority band (open tasks at the end of each step)', format: count, series:
      ['high', 'medium', 'low'].map((band) => ({ label: band, values: field(b, (x) => x.queue_depth[band]) })) },
    { id: 'chart-turnaround', title: 'Turnaround p50 / p95', format: seconds, series: [
      { label: 'p50', values: field(b, (x) => x.turnaround_p50_s) }, { label: 'p95', values: field(b, (x) => x.turnaround_p95_s) }] },
    { id: 'chart-sla', title: 'SLA compliance', format: percent, range: UNIT, series: [{ label: 'met', values: field(b, (x) => x.sla_compliance) }] },
    { id: 'chart-accuracy', title: 'Accuracy: delivered (final) vs model', format: percent, series: [
      { label: 'final', values: field(b, (x) => x.final_accuracy) }, { label: 'model', values: field(b, (x) => x.model_accuracy) },
      { label: 'gain', values: field(b, (x) => x.accuracy_gain) }] },
    { id: 'chart-bias', title: 'Flag rate by group' + (s.group_attribute ? ' (' + s.group_attribute + ')' : ' (no group attribute configured)'),
      format: percent, range: UNIT, series: groups.map((g) => ({ label: g, values: field(b, (x) => x.group_flag_rates[g]) })) },
    { id: 'chart-cost', title: 'Cost per corrected prediction', format: plain, series: [{ label: 'cost', values: field(b, (x) => x.cost_per_correction) }] },
  ];
}

function Charts({ domain, range }) {
  const [s, error] = usePoll(() => {
    const r = RANGES[range];
    const to = Date.now();
    return get(`/v1/domains/${seg(domain)}/report/series` + query({ from: to - r.span, to, bucket: r.bucket / 1000 + 's' }));
  }, 30000, [domain, range]);
  const charts = useMemo(() => (s ? chartsOf(s) : []), [s]);
  const xs = useMemo(() => (s ? s.buckets.map((b) => b.from_ms) : []), [s]);
  if (!s) return html`<${ErrorBanner} error=${error} /><p class="muted" aria-busy="true">Loading the series…</p>`;
  const totals = s.buckets.reduce((a, b) => ({ p: a.p + b.predictions, f: a.f + b.flagged }), { p: 0, f: 0 });
  return html`
    <${ErrorBanner} error=${error} />
    <p class="muted">${totals.p} predictions, ${totals.f} flagged, in ${s.buckets.length} steps of ${stepText(s.bucket_ms)}.
      Dashed lines: model changes (grey) and policy changes (purple).</p>
    <div class="charts" data-ready="1">
      ${charts.map((c) => html`<${Chart} key=${c.id} id=${c.id} title=${c.title} xs=${xs} series=${c.series} events=${s.events} format=${c.format} range=${c.range} />`)}
    </div>
    ${s.events.length ? html`<details class="panel"><summary>Events (${s.events.length})</summary>
      <ul>${s.events.map((e, i) => html`<li key=${i}>${time(e.ts_ms)} ${e.action} ${e.summary}</li>`)}</ul></details>` : null}`;
}

function Versions({ domain, me }) {
  const info = me.domains.find((d) => d.name === domain) || {};
  const [m, mErr] = usePoll(() => get(`/v1/admin/domains/${seg(domain)}/models`), 30000, [domain]);
  const [r, rErr] = usePoll(() => get(`/v1/admin/domains/${seg(domain)}/retrain`), 15000, [domain]);
  return html`
    <section class="panel side">
      <h3>In force</h3>
      <${ErrorBanner} error=${mErr || rErr} />
      <dl>
        <dt>model</dt><dd>${m ? (m.live && m.live.id) || 'the configured artifact' : '…'}</dd>
        <dt>since</dt><dd>${m && m.live && m.live.since_ms ? time(m.live.since_ms) : '–'}</dd>
        <dt>versions</dt><dd>${m ? m.versions.length : '…'}</dd>
        <dt>policy</dt><dd class="hash" title=${info.policy_hash || ''}>${(info.policy_hash || '–').slice(0, 16)}</dd>
      </dl>
      <h3>Retrain jobs</h3>
      ${r && r.trainable === false ? html`<p class="muted">This domain has no model to train.</p>` : null}
      <table class="jobs">
        <thead><tr><th scope="col">job</th><th scope="col">status</th><th scope="col">trigger</th><th scope="col">evaluation</th></tr></thead>
        <tbody>${(r && r.jobs ? r.jobs : []).map((j) => html`
          <tr key=${j.id}><td>${j.id}</td><td>${j.status}</td><td>${j.trigger}</td>
            <td>${j.result ? (j.result.decision || (j.result.promoted ? 'promoted' : 'kept')) : j.error || '–'}</td></tr>`)}</tbody>
      </table>
    </section>`;
}

function AuditStatus() {
  const [state, setState] = useState(null);
  const verify = async () => {
    setState({ running: true });
    try { setState({ result: await get('/v1/admin/audit/verify') }); } catch (e) { setState({ error: e }); }
  };
  const r = state && state.result;
  return html`
    <section class="panel side">
      <h3>Audit chain</h3>
      ${r ? html`<p class=${r.ok ? 'ok' : 'error'}>${r.ok ? 'verified' : 'BROKEN'}: ${r.records} records, head seq ${r.head_seq}
        ${r.ok ? '' : ' — ' + r.error}</p>` : null}
      <${ErrorBanner} error=${state && state.error} />
      <button type="button" disabled=${state && state.running} onClick=${verify}>${state && state.running ? 'Verifying…' : 'Verify now'}</button>
    </section>`;
}

export function Console({ me }) {
  const [domain, setDomain] = useState(me.domains.length ? me.domains[0].name : '');
  const [range, setRange] = useState('day');
  if (!domain) return html`<p>No domain.</p>`;
  return html`
    <div class="console">
      <div class="bar">
        <label>Domain <select value=${domain} onChange=${(e) => setDomain(e.currentTarget.value)}>
          ${me.domains.map((d) => html`<option value=${d.name}>${d.name}</option>`)}</select></label>
        <div role="group" aria-label="time range" class="ranges">
          ${Object.entries(RANGES).map(([k, r]) => html`<button type="button" class=${k === range ? 'chip active' : 'chip'}
            aria-pressed=${k === range} onClick=${() => setRange(k)}>${r.label}</button>`)}
        </div>
      </div>
      <div class="console-grid">
        <div class="main-col"><${Charts} key=${domain + range} domain=${domain} range=${range} /></div>
        <div class="side-col"><${Versions} domain=${domain} me=${me} /><${AuditStatus} /></div>
      </div>
    </div>`;
}
