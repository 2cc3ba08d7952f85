// The hitl web UI: sign-in, the page frame and hash routing (#/review, #/console, #/admin).
import { html, render, useState, useEffect, useCallback, ErrorBanner } from './ui.mjs';
import { get, token, setUnauthorizedHandler } from './api.mjs';
import { Workbench } from './workbench.mjs';
import { Console } from './console.mjs';
import { Admin } from './admin.mjs';

const PAGES = {
  review: { title: 'Review', roles: ['reviewer', 'admin'], view: Workbench },
  console: { title: 'Console', roles: ['admin'], view: Console },
  admin: { title: 'Admin', roles: ['admin'], view: Admin },
};

function currentPage() {
  const m = /^#\/(\w+)/.exec(location.hash);
  return m ? m[1] : '';
}

function SignIn({ onSignedIn, error }) {
  const [value, setValue] = useState('');
  const submit = (e) => {
    e.preventDefault();
    const t = value.trim();
    if (t) onSignedIn(t);
  };
  return html`
    <main class="signin">
      <h1>hitl</h1>
      <p>Sign in with your token (from <code>hitl token create</code>). It is kept in this tab only and
         forgotten when you sign out or close the tab.</p>
      <form onSubmit=${submit}>
        <label for="token">Token</label>
        <input id="token" type="password" autocomplete="off" spellcheck="false" value=${value}
               onInput=${(e) => setValue(e.currentTarget.value)} autofocus />
        <button type="submit" class="primary">Sign in</button>
      </form>
      <${ErrorBanner} error=${error} />
    </main>`;
}

function Frame({ me, page, onSignOut, children }) {
  const pages = Object.entries(PAGES).filter(([, p]) => p.roles.includes(me.role));
  return html`
    <header class="top">
      <span class="brand">hitl</span>
      <nav aria-label="pages">
        ${pages.map(([id, p]) => html`
          <a href=${'#/' + id} class=${id === page ? 'active' : ''} aria-current=${id === page ? 'page' : undefined}>${p.title}</a>`)}
      </nav>
      <span class="who" title=${'role ' + me.role}>${me.name} <small>(${me.role})</small></span>
      <button type="button" class="signout" onClick=${onSignOut}>Sign out</button>
    </header>
    <main id="main">${children}</main>`;
}

function App() {
  const [me, setMe] = useState(null);
  const [error, setError] = useState(null);
  const [page, setPage] = useState(currentPage());
  const [checking, setChecking] = useState(!!token.get());

  const signOut = useCallback((why) => {
    token.clear();
    setMe(null);
    setError(why || null);
  }, []);
  const signIn = useCallback(async (t) => {
    token.set(t);
    setChecking(true);
    try {
      setMe(await get('/v1/me'));
      setError(null);
    } catch (e) {
      token.clear();
      setError(e);
    } finally {
      setChecking(false);
    }
  }, []);

  useEffect(() => {
    setUnauthorizedHandler((e) => signOut(e));
    const onHash = () => setPage(currentPage());
    addEventListener('hashchange', onHash);
    if (token.get()) signIn(token.get());
    return () => removeEventListener('hashchange', onHash);
  }, []);

  if (checking) return html`<main class="signin"><p>Checking the token…</p></main>`;
  if (!me) return html`<${SignIn} onSignedIn=${signIn} error=${error} />`;
  const allowed = Object.keys(PAGES).filter((id) => PAGES[id].roles.includes(me.role));
  if (allowed.length === 0) {
    return html`<${Frame} me=${me} page="" onSignOut=${() => signOut()}>
      <p>A ${me.role} token has no page here: the web UI is for reviewers and admins.</p></${Frame}>`;
  }
  const id = allowed.includes(page) ? page : allowed[0];
  const View = PAGES[id].view;
  return html`<${Frame} me=${me} page=${id} onSignOut=${() => signOut()}><${View} me=${me} /></${Frame}>`;
}

render(html`<${App} />`, document.getElementById('app'));
