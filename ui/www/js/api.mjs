// The /v1 API from the browser. The token lives in sessionStorage only (gone when the tab
// closes, never in a URL, never in a cookie), and goes out as an Authorization header.
const KEY = 'hitl.token';

export const token = {
  get: () => sessionStorage.getItem(KEY) || '',
  set: (t) => sessionStorage.setItem(KEY, t),
  clear: () => sessionStorage.removeItem(KEY),
};

// The service's error shape: {"error": {"code", "message", "field"}}.
export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field || null;
  }
}

let onUnauthorized = () => {};
// Called when the service refuses the token (revoked, expired): the app signs out.
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

export async function api(method, path, body, { signal } = {}) {
  const headers = { Authorization: 'Bearer ' + token.get() };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method, headers, signal, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'the service did not answer (' + e.message + ')');
  }
  if (res.status === 204) return null;
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  if (!res.ok) {
    const e = (data && data.error) || {};
    const err = new ApiError(res.status, e.code || 'http_' + res.status, e.message || res.statusText, e.field);
    if (res.status === 401) onUnauthorized(err);
    throw err;
  }
  return data;
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const post = (path, body, opts) => api('POST', path, body === undefined ? {} : body, opts);
export const del = (path, opts) => api('DELETE', path, undefined, opts);

// A path segment or query value, escaped: ids come from clients and may hold anything.
export const seg = (s) => encodeURIComponent(String(s));
export function query(params) {
  const q = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => seg(k) + '=' + seg(v)).join('&');
  return q ? '?' + q : '';
}
