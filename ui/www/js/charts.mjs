// Time-series charts (uPlot, loaded on first use so the workbench never pays for it) with
// vertical markers for model promotions / rollbacks and policy changes.
import { html, useEffect, useRef } from './ui.mjs';

let uplot = null;
export async function loadUPlot() {
  if (!uplot) uplot = (await import('../vendor/uPlot.esm.js')).default;
  return uplot;
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#17becf'];

// Draws a dashed line per event at its time, over the plot.
function markersPlugin(events) {
  return {
    hooks: {
      draw: (u) => {
        const { ctx } = u;
        const { top, height } = u.bbox;
        ctx.save();
        ctx.setLineDash([4, 4]);
        ctx.lineWidth = 1;
        for (const e of events) {
          const x = Math.round(u.valToPos(e.ts_ms / 1000, 'x', true));
          if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
          ctx.strokeStyle = e.action.startsWith('policy') ? '#9467bd' : '#444';
          ctx.beginPath();
          ctx.moveTo(x, top);
          ctx.lineTo(x, top + height);
          ctx.stroke();
        }
        ctx.restore();
      },
    },
  };
}

// One chart: `series` is [{label, values}], `xs` in milliseconds; a step without data (null)
// is bridged by the line and has no point. `format` renders the
// y axis values (percent, seconds, ...). Fixed height: nothing jumps when data arrives.
export function Chart({ title, xs, series, events, format, id, range }) {
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    let cancelled = false;
    loadUPlot().then((UPlot) => {
      if (cancelled || !box.current) return;
      if (plot.current) plot.current.destroy();
      const width = Math.max(280, box.current.clientWidth);
      const opts = {
        width, height: 200,
        legend: { show: true },
        scales: { x: { time: true }, y: range ? { range } : {} },
        axes: [{}, { values: (u, vals) => vals.map((v) => (v === null ? '' : format(v))), size: 60 }],
        series: [{}].concat(series.map((s, i) => ({ label: s.label, stroke: COLOURS[i % COLOURS.length], width: 2, spanGaps: true,
          points: { show: true, size: 5 },
          value: (u, v) => (v === null || v === undefined ? '–' : format(v)) }))),
        plugins: [markersPlugin(events || [])],
      };
      const data = [xs.map((x) => x / 1000)].concat(series.map((s) => s.values));
      plot.current = new UPlot(opts, data, box.current);
    });
    return () => { cancelled = true; };
  }, [xs, series, events, range]);
  useEffect(() => {
    const onResize = () => plot.current && box.current && plot.current.setSize({ width: Math.max(280, box.current.clientWidth), height: 200 });
    addEventListener('resize', onResize);
    return () => { removeEventListener('resize', onResize); if (plot.current) plot.current.destroy(); plot.current = null; };
  }, []);
  return html`<figure class="chart" id=${id}><figcaption>${title}</figcaption><div class="plot" ref=${box}></div></figure>`;
}
