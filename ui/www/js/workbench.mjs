// The reviewer workbench: the queue, "Start reviewing", one task at a time with the next one
// claimed as soon as an answer is stored, keyboard shortcuts, and the reviewer's own figures.
import { html, useState, useEffect, useRef, usePoll, ErrorBanner, Notice, Figure } from './ui.mjs';
import { get, post, query, seg } from './api.mjs';
import { pct } from './format.mjs';
import { Counts, Queue } from './queue.mjs';
import { TaskView, Shortcuts, labelChoice } from './task.mjs';

// What a refusal means for the reviewer, and whether the task in front of them is gone.
export function refusal(e) {
  const gone = { lease_not_held: true, illegal_transition: true, not_found: true };
  const text = {
    lease_not_held: 'Your lease on this task ran out or the task was reassigned: it went back to the queue and this answer was not stored.',
    illegal_transition: 'This task can no longer be answered (it was cancelled or completed by someone else).',
    capacity_reached: 'You already hold as many tasks as your capacity allows: finish or release one first.',
    fatigue_limit: 'You reached the domain’s limit of reviews in a row or per hour: take a break, then continue.',
    reviewer_disabled: 'Your reviewer account is disabled: ask an admin.',
    not_eligible: 'You may not take this task (four-eyes or assignment rules).',
    forbidden: 'This token may not review this domain.',
  }[e.code];
  return { text: (text || 'The service refused: ') + (text ? ' (' + e.message + ')' : e.message), gone: !!gone[e.code], code: e.code };
}

function MyFigures({ domain }) {
  const [f, error] = usePoll(() => get('/v1/me/figures'), 60000, []);
  const d = f && f.domains ? f.domains[domain] : null;
  if (error) return html`<div class="figures muted">figures unavailable</div>`;
  return html`
    <div class="figures" aria-label="your figures">
      <${Figure} label="reviewed today" value=${d ? d.reviewed_today : '…'} />
      <${Figure} label="last hour" value=${d ? d.last_hour : '…'} />
      <${Figure} label="agreement" value=${d ? pct(d.agreement) : '…'} title="answers equal to the final label in consensus rounds" />
      <${Figure} label="gold accuracy" value=${d ? pct(d.gold_accuracy) : '…'} title="counted up to yesterday, so no answer of today reveals a gold task" />
    </div>`;
}

// Keys outside text fields; in the comment only Ctrl/Cmd+Enter (submit) and Escape (leave it).
function useShortcuts(handlers, active) {
  const ref = useRef(handlers);
  ref.current = handlers;
  useEffect(() => {
    if (!active) return undefined;
    const onKey = (e) => {
      const h = ref.current;
      const inText = /^(TEXTAREA|INPUT|SELECT)$/.test(e.target.tagName);
      if (inText) {
        if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); h.submit(); }
        else if (e.key === 'Escape') e.target.blur();
        return;
      }
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === 'Enter' && e.target.tagName === 'BUTTON') return;  // the button's own click
      const k = e.key.toLowerCase();
      if (k === 'a') h.choose({ outcome: 'approve' });
      else if (k === 'x') h.choose({ outcome: 'reject' });
      else if (/^[1-9]$/.test(k)) h.label(Number(k) - 1);
      else if (e.key === 'Enter') h.submit();
      else if (k === 's') h.release();
      else if (k === 'c') h.comment();
      else return;
      e.preventDefault();
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, [active]);
}

// Renews the lease of the task on screen while the reviewer is active: when less than half of
// it is left and they touched the page within the last minute (or half a lease, if shorter). An
// absent reviewer's lease runs out and the task goes back to the queue, as it should.
function useLeaseRenewal(task, gone, onRenewed, onLost) {
  const lastActive = useRef(Date.now());
  const cbs = useRef({});
  cbs.current = { onRenewed, onLost };
  useEffect(() => {
    const mark = () => { if (!document.hidden) lastActive.current = Date.now(); };
    const events = ['keydown', 'pointerdown', 'pointermove', 'input', 'scroll', 'wheel'];
    events.forEach((e) => addEventListener(e, mark, { passive: true, capture: true }));
    return () => events.forEach((e) => removeEventListener(e, mark, { capture: true }));
  }, []);
  useEffect(() => {
    if (!task || gone) return undefined;
    const leaseMs = Math.max(1000, task.lease_expires_ms - Date.now());
    let expires = task.lease_expires_ms, busy = false, stopped = false;
    const tick = async () => {
      const now = Date.now();
      const active = now - lastActive.current < Math.min(60000, leaseMs / 2);
      if (busy || stopped || !active || expires - now > leaseMs / 2 || expires <= now) return;
      busy = true;
      try {
        const r = await post(`/v1/review/tasks/${seg(task.task_id)}/renew`);
        expires = r.lease_expires_ms;
        if (!stopped) cbs.current.onRenewed(r.lease_expires_ms);
      } catch (e) {
        if (e.code === 'not_supported') stopped = true;  // an older queue plugin: the lease just runs
        else if (e.code === 'lease_not_held' || e.code === 'illegal_transition') { stopped = true; cbs.current.onLost(e); }
      } finally {
        busy = false;
      }
    };
    const t = setInterval(tick, Math.min(15000, leaseMs / 4));
    return () => { stopped = true; clearInterval(t); };
  }, [task && task.task_id, gone]);
}

export function Workbench({ me }) {
  const domains = me.domains;
  const [domain, setDomain] = useState(domains.length ? domains[0].name : '');
  const [task, setTask] = useState(null);
  const [gone, setGone] = useState(false);  // the task on screen can no longer be answered
  const [busy, setBusy] = useState(false);
  const [choice, setChoice] = useState(null);
  const [comment, setComment] = useState('');
  const [notice, setNotice] = useState(null);
  const answeredAt = useRef(0);
  // Unsent comments by decision: a task lost and claimed again gets its comment back.
  const drafts = useRef(new Map());

  const show = (t) => {
    setTask(t);
    setGone(false);
    setChoice(null);
    setComment((t && drafts.current.get(t.decision_id)) || '');
  };
  const editComment = (text) => {
    setComment(text);
    if (task) drafts.current.set(task.decision_id, text);
  };
  const claim = async () => {
    setBusy(true);
    try {
      const t = await get('/v1/review/next' + query({ domain }));
      show(t);
      if (!t) setNotice({ kind: 'info', text: 'No task waiting in ' + domain + '.' });
    } catch (e) {
      setNotice({ kind: 'error', ...refusal(e) });
    } finally {
      setBusy(false);
    }
  };
  const submit = async () => {
    if (!task || !choice || busy || gone) return;
    const body = { outcome: choice.outcome, comment };
    if (choice.outcome === 'correct') body.correction = { label: choice.label };
    setBusy(true);
    answeredAt.current = performance.now();
    try {
      await post(`/v1/review/tasks/${seg(task.task_id)}/outcome`, body);
      drafts.current.delete(task.decision_id);
      setNotice({ kind: 'ok', text: 'Task ' + task.task_id + ' answered: ' + choice.outcome + (choice.label ? ' → ' + choice.label : '') + '.' });
    } catch (e) {
      // The typed comment and choice stay on screen: nothing is lost on a refusal.
      const r = refusal(e);
      setNotice({ kind: 'error', ...r });
      if (r.gone) setGone(true);
      setBusy(false);
      return;
    }
    setBusy(false);
    await claim();  // the next task, at once: the reviewer never asks for it
  };
  const release = async () => {
    if (!task || busy) return;
    setBusy(true);
    try {
      if (!gone) await post(`/v1/review/tasks/${seg(task.task_id)}/release`, { reason: 'skipped in the web UI' });
      setNotice({ kind: 'info', text: 'Task ' + task.task_id + ' released back to the queue.' });
      show(null);
    } catch (e) {
      setNotice({ kind: 'error', ...refusal(e) });
      if (refusal(e).gone) show(null);
    } finally {
      setBusy(false);
    }
  };

  // Time from an answer to the next task on screen, for the browser test (and curious people).
  useEffect(() => {
    if (task && answeredAt.current) {
      document.body.dataset.answerToNextMs = String(Math.round(performance.now() - answeredAt.current));
      answeredAt.current = 0;
    }
    document.body.dataset.taskId = task ? String(task.task_id) : '';
  }, [task]);

  useLeaseRenewal(task, gone,
    (expires) => setTask((t) => (t ? { ...t, lease_expires_ms: expires } : t)),
    (e) => { setNotice({ kind: 'error', ...refusal(e) }); setGone(true); });

  useShortcuts({
    choose: (c) => task && !gone && setChoice(c),
    label: (i) => task && !gone && task.labels && i < task.labels.length && setChoice(labelChoice(task, task.labels[i])),
    submit: () => (task ? submit() : !busy && claim()),
    release,
    comment: () => document.getElementById('comment')?.focus(),
  }, true);

  if (!domains.length) return html`<p>This token has no domain to review.</p>`;
  return html`
    <div class="workbench">
      <div class="bar">
        <${Counts} domains=${domains} current=${domain} onPick=${(d) => { if (!task) setDomain(d); }} />
        <${MyFigures} domain=${domain} />
      </div>
      ${notice ? html`<${Notice} kind=${notice.kind}>${notice.text}</${Notice}>` : null}
      ${task
        ? html`
          ${gone ? html`<div class="gone-actions"><button type="button" class="primary" onClick=${claim}>Claim the next task</button>
                   <button type="button" onClick=${() => show(null)}>Back to the queue</button>
                   <span class="muted">Your comment is still below: copy it before you move on.</span></div>` : null}
          <${TaskView} task=${task} choice=${choice} onChoose=${setChoice} comment=${comment} onComment=${editComment}
                       onSubmit=${submit} onRelease=${release} busy=${busy} locked=${gone} />`
        : html`
          <div class="start">
            <button type="button" class="primary big" disabled=${busy} onClick=${claim}>Start reviewing <kbd>Enter</kbd></button>
            <span class="muted">claims the most urgent task of ${domain} you may take</span>
          </div>
          <${Queue} key=${domain} domain=${domain} />`}
      <${Shortcuts} />
    </div>`;
}
