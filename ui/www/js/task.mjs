// One claimed review task: the input, what the model said and why, the case history, and the
// answer (approve / reject / correct with a label, a comment). Every value from the client or the
// model is rendered as text.
import { html, useState, useNow } from './ui.mjs';
import { get, seg } from './api.mjs';
import { cell, duration, pct, num, time } from './format.mjs';

function InputTable({ input }) {
  if (!input || typeof input !== 'object') return html`<p class="muted">No input (erased?).</p>`;
  const rows = Object.entries(input);
  return html`
    <table class="input">
      <caption>Input</caption>
      <tbody>${rows.map(([k, v]) => html`<tr key=${k}><th scope="row">${k}</th><td>${cell(v)}</td></tr>`)}</tbody>
    </table>`;
}

// Per-label scores as horizontal bars, the model's label first.
function Scores({ prediction }) {
  const scores = (prediction && prediction.scores) || {};
  const rows = Object.entries(scores).sort((a, b) => b[1] - a[1]);
  if (!rows.length) return null;
  return html`
    <div class="scores" aria-label="scores">
      ${rows.map(([label, s]) => html`
        <div class="score" key=${label}>
          <span class="name">${label}</span>
          <span class="bar"><span class="fill" style=${{ width: Math.max(0, Math.min(1, s)) * 100 + '%' }}></span></span>
          <span class="val">${pct(s)}</span>
        </div>`)}
    </div>`;
}

// Feature contributions, largest first, as signed bars around a centre line.
export function Explanation({ contributions }) {
  const rows = Object.entries(contributions || {}).filter(([, v]) => typeof v === 'number')
    .sort((a, b) => Math.abs(b[1]) - Math.abs(a[1])).slice(0, 15);
  if (!rows.length) return html`<p class="muted">No explanation from the model.</p>`;
  const max = Math.max(...rows.map(([, v]) => Math.abs(v))) || 1;
  return html`
    <figure class="explanation">
      <figcaption>Why: feature contributions (towards the model's label →)</figcaption>
      ${rows.map(([name, v]) => html`
        <div class="contrib" key=${name}>
          <span class="name" title=${name}>${name}</span>
          <span class="axis">
            <span class="neg">${v < 0 ? html`<span class="fill" style=${{ width: (-v / max) * 100 + '%' }}></span>` : null}</span>
            <span class="pos">${v > 0 ? html`<span class="fill" style=${{ width: (v / max) * 100 + '%' }}></span>` : null}</span>
          </span>
          <span class="val">${(v > 0 ? '+' : '') + num(v, 3)}</span>
        </div>`)}
    </figure>`;
}

// The case history, read when opened: blind (empty) for reviewers while the task is open.
function History({ task }) {
  const [state, setState] = useState(null);
  const load = async (e) => {
    if (!e.currentTarget.open || state) return;
    setState({ loading: true });
    try {
      setState({ trace: await get(`/v1/domains/${seg(task.domain)}/decisions/${seg(task.decision_id)}/trace`) });
    } catch (err) {
      setState({ error: err.message });
    }
  };
  let body = null;
  if (!state || state.loading) body = html`<p class="muted">Loading…</p>`;
  else if (state.error) body = html`<p class="error">${state.error}</p>`;
  else if (state.trace.blind) body = html`<p class="muted">Hidden: reviews are blind while the task is open.</p>`;
  else if (!state.trace.reviews.length) body = html`<p class="muted">No earlier reviews.</p>`;
  else body = html`<ol class="history">${state.trace.reviews.map((r, i) => html`
      <li key=${i}><strong>${r.reviewer}</strong> ${r.outcome}${r.final_label ? ' → ' + r.final_label : ''}
        <span class="muted"> ${time(r.created_ms)}</span>${r.comment ? html`<blockquote>${r.comment}</blockquote>` : null}</li>`)}</ol>`;
  return html`<details class="panel" onToggle=${load}><summary>Case history</summary>${body}</details>`;
}

function Lease({ expires }) {
  const now = useNow(1000);
  const left = expires - now;
  const cls = left <= 0 ? 'lease lost' : left < 60000 ? 'lease low' : 'lease';
  return html`<span class=${cls} aria-live="off">${left > 0 ? 'lease ' + duration(left) : 'lease expired'}</span>`;
}

export const SHORTCUTS = [
  ['a', 'approve'], ['x', 'reject'], ['1–9', 'correct to label'], ['Enter', 'submit'],
  ['s', 'release (skip)'], ['c', 'comment'], ['Ctrl+Enter', 'submit from comment'],
];

export function Shortcuts() {
  return html`<ul class="shortcuts" aria-label="keyboard shortcuts">
    ${SHORTCUTS.map(([k, what]) => html`<li key=${k}><kbd>${k}</kbd> ${what}</li>`)}</ul>`;
}

function choiceText(c) {
  if (!c) return 'nothing chosen';
  if (c.outcome === 'correct') return 'correct to “' + c.label + '”';
  return c.outcome;
}

export function TaskView({ task, choice, onChoose, comment, onComment, onSubmit, onRelease, busy, locked }) {
  const p = task.prediction || {};
  const labels = task.labels || [];
  return html`
    <article class="task" aria-label=${'task ' + task.task_id}>
      <header class="task-head">
        <h2>Task ${task.task_id} <small class="muted">decision ${task.decision_id}</small></h2>
        <span class="reason" title="why the policy flagged it">${task.reason}</span>
        <span class="muted">priority ${num(task.priority)}</span>
        ${task.deadline_ms ? html`<span class="muted">SLA ${duration(task.deadline_ms - Date.now())}</span>` : null}
        <${Lease} expires=${task.lease_expires_ms} />
      </header>
      <div class="task-grid">
        <section class="panel"><${InputTable} input=${task.input} /></section>
        <section class="panel model">
          <h3>Model says <span class="label-pill">${p.label ?? '–'}</span> <span class="muted">confidence ${pct(p.confidence)}</span></h3>
          <${Scores} prediction=${p} />
          <${Explanation} contributions=${p.contributions} />
        </section>
        <section class="panel answer" aria-label="answer">
          <div class="choices" role="group" aria-label="outcome">
            <button type="button" class=${choice && choice.outcome === 'approve' ? 'choice active' : 'choice'}
                    aria-pressed=${!!choice && choice.outcome === 'approve'} disabled=${locked}
                    onClick=${() => onChoose({ outcome: 'approve' })}><kbd>a</kbd> Approve</button>
            <button type="button" class=${choice && choice.outcome === 'reject' ? 'choice active' : 'choice'}
                    aria-pressed=${!!choice && choice.outcome === 'reject'} disabled=${locked}
                    onClick=${() => onChoose({ outcome: 'reject' })}><kbd>x</kbd> Reject</button>
          </div>
          <div class="labels" role="group" aria-label="correct to label">
            ${labels.slice(0, 9).map((l, i) => {
              const on = chosenLabel(task, choice) === l;
              return html`<button type="button" key=${l} disabled=${locked} class=${on ? 'choice active' : 'choice'}
                      aria-pressed=${on} onClick=${() => onChoose(labelChoice(task, l))}><kbd>${i + 1}</kbd> ${l}</button>`;
            })}
          </div>
          <label for="comment">Comment <small class="muted">(optional)</small></label>
          <textarea id="comment" rows="3" maxlength="10000" value=${comment}
                    onInput=${(e) => onComment(e.currentTarget.value)}></textarea>
          <div class="submit-row">
            <button type="button" class="primary" disabled=${!choice || busy || locked} onClick=${onSubmit}>
              <kbd>Enter</kbd> Submit: ${choiceText(choice)}</button>
            <button type="button" disabled=${busy || locked} onClick=${onRelease}><kbd>s</kbd> Release</button>
          </div>
        </section>
      </div>
      <${History} key=${task.task_id} task=${task} />
    </article>`;
}

// The label an answer delivers: the model's for an approval, the chosen one for a correction.
function chosenLabel(task, choice) {
  if (!choice) return null;
  if (choice.outcome === 'approve') return task.prediction ? task.prediction.label : null;
  return choice.outcome === 'correct' ? choice.label : null;
}

// A label button: the model's own label is an approval, any other a correction.
export function labelChoice(task, label) {
  const modelLabel = task.prediction && task.prediction.label;
  return label === modelLabel ? { outcome: 'approve' } : { outcome: 'correct', label };
}
