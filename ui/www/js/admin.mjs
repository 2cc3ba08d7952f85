// Admin pages: reviewers (add, disable, enable, load), tokens (list, create, revoke), the model
// registry (promote, rollback, both confirmed) and a manual retrain.
import { html, useState, usePoll, ErrorBanner, Notice } from './ui.mjs';
import { get, post, seg } from './api.mjs';
import { time } from './format.mjs';

const list = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);

// A form's fields as state, with one submit that reports what happened.
function useForm(initial) {
  const [values, setValues] = useState(initial);
  const bind = (k) => ({ value: values[k], onInput: (e) => setValues({ ...values, [k]: e.currentTarget.value }) });
  return [values, bind, () => setValues(initial)];
}

// A button that asks "are you sure?" in place (no browser dialog) before it acts.
function Confirm({ label, question, onYes, disabled }) {
  const [asking, setAsking] = useState(false);
  if (!asking) return html`<button type="button" disabled=${disabled} onClick=${() => setAsking(true)}>${label}</button>`;
  return html`<span class="confirm" role="group">${question}
    <button type="button" class="danger" onClick=${() => { setAsking(false); onYes(); }}>Yes</button>
    <button type="button" onClick=${() => setAsking(false)}>No</button></span>`;
}

function Reviewers({ me }) {
  const [data, error, reload] = usePoll(() => get('/v1/admin/reviewers'), 15000, []);
  const [v, bind, reset] = useForm({ id: '', name: '', domains: '', roles: '', skills: '', capacity: '1' });
  const [status, setStatus] = useState(null);
  const act = async (fn, ok) => {
    try { await fn(); setStatus({ kind: 'ok', text: ok }); reload(); } catch (e) { setStatus({ kind: 'error', text: e.message }); }
  };
  const add = (e) => {
    e.preventDefault();
    const body = { id: v.id.trim(), name: v.name.trim() || null, domains: list(v.domains), roles: list(v.roles), skills: list(v.skills),
      capacity: Number(v.capacity) };
    act(() => post('/v1/admin/reviewers', body), 'Reviewer ' + body.id + ' saved.').then(reset);
  };
  const rows = data ? data.reviewers : [];
  return html`
    <section class="panel" aria-labelledby="h-reviewers">
      <h2 id="h-reviewers">Reviewers</h2>
      <${ErrorBanner} error=${error} />
      ${status ? html`<${Notice} kind=${status.kind}>${status.text}</${Notice}>` : null}
      <div class="table-wrap"><table class="reviewers">
        <thead><tr><th scope="col">id</th><th scope="col">name</th><th scope="col">domains</th><th scope="col">roles</th>
          <th scope="col">skills</th><th scope="col">load</th><th scope="col">state</th><th scope="col"></th></tr></thead>
        <tbody>${rows.map((r) => {
          const held = Object.values(r.workload || {})[0];
          return html`<tr key=${r.id}>
            <td>${r.id}</td><td>${r.name}</td><td>${r.domains.join(', ') || 'all'}</td><td>${r.roles.join(', ')}</td>
            <td>${r.skills.join(', ')}</td><td>${held ? held.held : 0}/${r.capacity}</td><td>${r.disabled ? 'disabled' : 'active'}</td>
            <td>${r.disabled
              ? html`<button type="button" onClick=${() => act(() => post(`/v1/admin/reviewers/${seg(r.id)}/enable`), r.id + ' enabled.')}>Enable</button>`
              : html`<${Confirm} label="Disable" question=${'Disable ' + r.id + '?'}
                   onYes=${() => act(() => post(`/v1/admin/reviewers/${seg(r.id)}/disable`), r.id + ' disabled.')} />`}</td>
          </tr>`;
        })}</tbody>
      </table></div>
      <form class="inline-form" onSubmit=${add} aria-label="add a reviewer">
        <label>id (token name) <input required maxlength="128" ...${bind('id')} /></label>
        <label>name <input ...${bind('name')} /></label>
        <label>domains <input placeholder=${me.domains.map((d) => d.name).join(',')} ...${bind('domains')} /></label>
        <label>roles <input placeholder="reviewer,senior" ...${bind('roles')} /></label>
        <label>skills <input ...${bind('skills')} /></label>
        <label>capacity <input type="number" min="1" max="10000" ...${bind('capacity')} /></label>
        <button type="submit" class="primary">Add / update reviewer</button>
      </form>
    </section>`;
}

// When a token was created, last used (to the minute: the service writes uses once a minute) and
// expires; its state as the service computes it (active, expired, revoked).
function TokenTable({ rows, onRevoke }) {
  return html`<div class="table-wrap"><table class="tokens">
    <thead><tr><th scope="col">name</th><th scope="col">role</th><th scope="col">domains</th><th scope="col">state</th>
      <th scope="col">created</th><th scope="col">last used</th><th scope="col">expires</th><th scope="col"></th></tr></thead>
    <tbody>${rows.map((t) => html`<tr key=${t.name} data-token=${t.name}>
      <td>${t.name}</td><td>${t.role}</td><td>${t.domains.join(', ') || 'all'}</td><td>${t.state}</td>
      <td>${time(t.created_ms)}</td><td>${t.last_used_ms ? time(t.last_used_ms) : 'never'}</td>
      <td>${t.expires_ms ? time(t.expires_ms) : 'never'}</td>
      <td>${t.state === 'revoked' ? null
        : html`<${Confirm} label="Revoke" question=${'Revoke ' + t.name + '?'} onYes=${() => onRevoke(t.name)} />`}</td>
    </tr>`)}</tbody>
  </table></div>`;
}

function Tokens() {
  const [data, error, reload] = usePoll(() => get('/v1/admin/tokens'), 30000, []);
  const [v, bind, reset] = useForm({ name: '', role: 'reviewer', domains: '', expires_in: '' });
  const [revokeName, setRevokeName] = useState('');
  const [secret, setSecret] = useState(null);
  const [status, setStatus] = useState(null);
  const create = async (e) => {
    e.preventDefault();
    try {
      const body = { name: v.name.trim(), role: v.role, domains: list(v.domains) };
      if (v.expires_in.trim()) body.expires_in = v.expires_in.trim();
      const t = await post('/v1/admin/tokens', body);
      setSecret(t);
      setStatus(null);
      reset();
      reload();
    } catch (err) { setStatus({ kind: 'error', text: err.message }); }
  };
  const revoke = async (name) => {
    try {
      await post(`/v1/admin/tokens/${seg(name)}/revoke`);
      setStatus({ kind: 'ok', text: 'Token ' + name + ' revoked: it is refused from now on.' });
      setRevokeName('');
      reload();
    } catch (err) { setStatus({ kind: 'error', text: err.message }); }
  };
  return html`
    <section class="panel" aria-labelledby="h-tokens">
      <h2 id="h-tokens">Tokens</h2>
      <${ErrorBanner} error=${error} />
      ${status ? html`<${Notice} kind=${status.kind}>${status.text}</${Notice}>` : null}
      <${TokenTable} rows=${data ? data.tokens : []} onRevoke=${revoke} />
      <form class="inline-form" onSubmit=${create} aria-label="create a token">
        <label>name <input required maxlength="128" ...${bind('name')} /></label>
        <label>role <select ...${bind('role')}>
          <option value="reviewer">reviewer</option><option value="client">client</option><option value="admin">admin</option></select></label>
        <label>domains <input placeholder="all" ...${bind('domains')} /></label>
        <label>expires in <input placeholder="never (e.g. 30d, 12h)" maxlength="16" ...${bind('expires_in')} /></label>
        <button type="submit" class="primary">Create token</button>
      </form>
      ${secret ? html`<div class="secret" role="status">
        <p>Token <strong>${secret.name}</strong> (${secret.role}) created${secret.expires_ms ? ', valid until ' + time(secret.expires_ms) : ''}. Copy it now: it is shown once and stored only as a hash.</p>
        <input readonly class="token-secret" value=${secret.token} onFocus=${(e) => e.currentTarget.select()} aria-label="the new token" />
        <button type="button" onClick=${() => setSecret(null)}>Done</button></div>` : null}
      <div class="inline-form">
        <label>revoke token named <input value=${revokeName} onInput=${(e) => setRevokeName(e.currentTarget.value)} /></label>
        <${Confirm} label="Revoke" disabled=${!revokeName.trim()} question=${'Revoke ' + revokeName.trim() + '?'} onYes=${() => revoke(revokeName.trim())} />
      </div>
    </section>`;
}

function Models({ me }) {
  const [domain, setDomain] = useState(me.domains.length ? me.domains[0].name : '');
  const [data, error, reload] = usePoll(() => get(`/v1/admin/domains/${seg(domain)}/models`), 30000, [domain]);
  const [status, setStatus] = useState(null);
  const [reason, setReason] = useState('');
  const act = async (fn, ok) => {
    try { const r = await fn(); setStatus({ kind: 'ok', text: ok(r) }); reload(); } catch (e) { setStatus({ kind: 'error', text: e.message }); }
  };
  const base = `/v1/admin/domains/${seg(domain)}`;
  const live = data && data.live ? data.live.id : null;
  return html`
    <section class="panel" aria-labelledby="h-models">
      <h2 id="h-models">Model registry and retraining</h2>
      <label>Domain <select value=${domain} onChange=${(e) => setDomain(e.currentTarget.value)}>
        ${me.domains.map((d) => html`<option value=${d.name}>${d.name}</option>`)}</select></label>
      <${ErrorBanner} error=${error} />
      ${status ? html`<${Notice} kind=${status.kind}>${status.text}</${Notice}>` : null}
      <p>Live: <strong>${live || 'the configured artifact'}</strong>
        ${live ? html` <${Confirm} label="Roll back" question=${'Roll back ' + domain + ' to the previous model?'}
          onYes=${() => act(() => post(base + '/models/rollback', { reason: reason || 'rolled back in the web UI' }), (r) => 'Live model now ' + (r.live.id || 'the configured artifact') + '.')} />` : null}</p>
      <div class="table-wrap"><table>
        <thead><tr><th scope="col">version</th><th scope="col">dataset</th><th scope="col">trigger</th><th scope="col">created</th><th scope="col"></th></tr></thead>
        <tbody>${(data ? data.versions.slice().reverse() : []).map((m) => html`<tr key=${m.id}>
          <td>${m.id}${m.id === live ? ' (live)' : ''}</td><td>${m.dataset}</td><td>${m.trigger}</td><td>${time(m.created_ms)}</td>
          <td>${m.id === live ? null : html`<${Confirm} label="Promote" question=${'Make ' + m.id + ' live?'}
            onYes=${() => act(() => post(`${base}/models/${seg(m.id)}/promote`, { reason: reason || 'promoted in the web UI' }), () => m.id + ' is live.')} />`}</td>
        </tr>`)}</tbody>
      </table></div>
      <div class="inline-form">
        <label>reason <input value=${reason} onInput=${(e) => setReason(e.currentTarget.value)} placeholder="why (kept in the audit trail)" /></label>
        <${Confirm} label="Retrain now" question=${'Queue a training of ' + domain + '?'}
          onYes=${() => act(() => post(base + '/retrain', { reason: reason || 'manual retrain from the web UI' }), (j) => 'Training job ' + j.id + ' queued.')} />
      </div>
    </section>`;
}

export function Admin({ me }) {
  return html`<div class="admin"><${Reviewers} me=${me} /><${Tokens} /><${Models} me=${me} /></div>`;
}
