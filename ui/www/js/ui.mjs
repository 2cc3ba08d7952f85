// Preact + htm, and the small pieces every page uses. Everything rendered goes through Preact's
// text nodes and attributes: values from clients are never parsed as HTML.
import { h, render, Fragment } from '../vendor/preact.mjs';
import { useState, useEffect, useRef, useCallback, useMemo } from '../vendor/hooks.mjs';
import htm from '../vendor/htm.mjs';

export const html = htm.bind(h);
export { render, Fragment, useState, useEffect, useRef, useCallback, useMemo };

// The current time, ticking every `ms`: countdowns re-render without refetching.
export function useNow(ms = 1000) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

// Runs `load` now and every `ms` while mounted (and again when `deps` change). Returns
// [data, error, reload]. A failed refresh keeps the last data and shows the error.
export function usePoll(load, ms, deps) {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const seq = useRef(0);
  const run = useCallback(async () => {
    const mine = ++seq.current;
    try {
      const d = await load();
      if (mine === seq.current) { setData(d); setError(null); }
    } catch (e) {
      if (mine === seq.current) setError(e);
    }
  }, deps);
  useEffect(() => {
    run();
    if (!ms) return undefined;
    const t = setInterval(run, ms);
    return () => { clearInterval(t); seq.current++; };
  }, [run, ms]);
  return [data, error, run];
}

export function ErrorBanner({ error, children }) {
  if (!error && !children) return null;
  return html`<div class="banner error" role="alert">${children || describe(error)}</div>`;
}

export function Notice({ kind = 'info', children }) {
  return html`<div class=${'banner ' + kind} role="status">${children}</div>`;
}

// What the service said, for people: the code picks a sentence, the message gives the detail.
export function describe(e) {
  if (!e) return '';
  const known = {
    network: 'The service did not answer.',
    unauthorized: 'The service refused the token (unknown, revoked or expired).',
    forbidden: 'Not allowed with this token.',
    busy: 'The service is busy: retry in a few seconds.',
  };
  const lead = known[e.code];
  return lead ? lead + ' (' + e.message + ')' : e.message || String(e);
}

// A small labelled figure: "12 reviewed today".
export function Figure({ label, value, title }) {
  return html`<div class="figure" title=${title || ''}><span class="value">${value}</span><span class="label">${label}</span></div>`;
}
