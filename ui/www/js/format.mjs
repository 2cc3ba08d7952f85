// Numbers and times as people read them.
export function duration(ms) {
  const neg = ms < 0;
  let s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  const text = d ? `${d}d ${h}h` : h ? `${h}h ${String(m).padStart(2, '0')}m` : `${m}:${String(s).padStart(2, '0')}`;
  return neg ? '-' + text : text;
}

export const pct = (x, digits = 1) => (x === null || x === undefined || Number.isNaN(x) ? '–' : (100 * x).toFixed(digits) + '%');
export const num = (x, digits = 2) => (x === null || x === undefined ? '–' : Number(x).toFixed(digits));
export const time = (ms) => (ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + 'Z' : '–');

// Any JSON value as one line of text (objects and arrays compact): input cells are shown as
// text, whatever they hold.
export function cell(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}
