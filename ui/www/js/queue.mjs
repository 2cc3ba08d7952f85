// The queue of the reviewer's domains: counts per domain, the waiting tasks of one domain by
// priority with their flag reason and SLA countdown, filters by reason and SLA state.
import { html, useState, useMemo, usePoll, useNow, ErrorBanner } from './ui.mjs';
import { get, query } from './api.mjs';
import { duration, num } from './format.mjs';

const SHOWN = 50;  // rows of the selected domain's queue on screen
const COUNT_LIMIT = 1000;  // counts above this show as "1000+"

// Waiting tasks (pending or escalated: both can be claimed) of one domain.
async function waiting(domain, limit) {
  const [p, e] = await Promise.all(['pending', 'escalated'].map((status) =>
    get('/v1/review/tasks' + query({ domain, status, limit }))));
  return { tasks: p.tasks.concat(e.tasks), more: p.next_cursor !== null || e.next_cursor !== null };
}

function slaClass(t, now) {
  if (!t.deadline_ms) return '';
  if (t.sla_state === 'breached' || t.deadline_ms <= now) return 'breached';
  if (t.sla_state === 'at_risk') return 'at-risk';
  return '';
}

function Sla({ t, now }) {
  if (!t.deadline_ms) return html`<span class="muted">none</span>`;
  const cls = slaClass(t, now);
  const left = t.deadline_ms - now;
  const word = cls === 'breached' ? 'breached' : cls === 'at-risk' ? 'at risk' : '';
  return html`<span class=${'sla ' + cls}>${left >= 0 ? duration(left) : 'over by ' + duration(-left)}${word ? ' · ' + word : ''}</span>`;
}

export function Counts({ domains, current, onPick }) {
  const [counts] = usePoll(async () => {
    const out = {};
    await Promise.all(domains.map(async (d) => {
      const w = await waiting(d.name, COUNT_LIMIT);
      out[d.name] = w.tasks.length + (w.more ? '+' : '');
    }));
    return out;
  }, 10000, [domains.map((d) => d.name).join(',')]);
  return html`
    <div class="domains" role="group" aria-label="domains">
      ${domains.map((d) => html`
        <button type="button" class=${d.name === current ? 'chip active' : 'chip'} aria-pressed=${d.name === current}
                onClick=${() => onPick(d.name)}>
          ${d.name} <span class="count">${counts ? counts[d.name] ?? '…' : '…'}</span>
        </button>`)}
    </div>`;
}

export function Queue({ domain }) {
  const now = useNow(1000);
  const [reason, setReason] = useState('');
  const [sla, setSla] = useState('');
  const [data, error] = usePoll(() => waiting(domain, 500), 5000, [domain]);
  const tasks = data ? data.tasks : [];
  const reasons = useMemo(() => [...new Set(tasks.map((t) => t.reason))].sort(), [data]);
  const shown = tasks
    .filter((t) => !reason || t.reason === reason)
    .filter((t) => !sla || slaClass(t, now) === sla)
    .sort((a, b) => b.priority - a.priority || (a.deadline_ms || Infinity) - (b.deadline_ms || Infinity) || a.task_id - b.task_id)
    .slice(0, SHOWN);
  return html`
    <section class="queue" aria-label="queue">
      <div class="filters">
        <label>Reason <select value=${reason} onChange=${(e) => setReason(e.currentTarget.value)}>
          <option value="">all</option>
          ${reasons.map((r) => html`<option value=${r}>${r}</option>`)}
        </select></label>
        <label>SLA <select value=${sla} onChange=${(e) => setSla(e.currentTarget.value)}>
          <option value="">all</option><option value="at-risk">at risk</option><option value="breached">breached</option>
        </select></label>
        <span class="muted">${data ? tasks.length + (data.more ? '+' : '') + ' waiting' : 'loading…'}</span>
      </div>
      <${ErrorBanner} error=${error} />
      <div class="table-wrap">
      <table class="tasks">
        <thead><tr><th scope="col">task</th><th scope="col">priority</th><th scope="col">reason</th><th scope="col">SLA</th><th scope="col">reviews</th></tr></thead>
        <tbody>
          ${shown.map((t) => html`
            <tr key=${t.task_id} class=${slaClass(t, now)}>
              <td>${t.task_id}</td><td>${num(t.priority)}</td><td>${t.reason}</td>
              <td><${Sla} t=${t} now=${now} /></td><td>${t.reviews_done}/${t.reviews_required}</td>
            </tr>`)}
        </tbody>
      </table>
      </div>
      ${data && shown.length === 0 ? html`<p class="muted">Nothing waiting${reason || sla ? ' with these filters' : ''}.</p>` : null}
    </section>`;
}
