// Small SVG charts (no library: a bar chart of buckets and a time series are all the dashboard draws).
import {h, s} from "./dom.js";

const W = 420, H = 170, LEFT = 40, BOTTOM = 34, TOP = 10;

function frame(title, note, body) {
  return h("figure", {class: "chart"}, h("figcaption", {}, title, note ? h("span", {class: "muted"}, ` ${note}`) : null),
    s("svg", {viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title}, body));
}

function axis(max) {
  const ticks = [0, max / 2, max].map((v) => Math.round(v));
  const y = (v) => H - BOTTOM - (max ? (v / max) * (H - BOTTOM - TOP) : 0);
  return {y, lines: ticks.map((v) => [
    s("line", {x1: LEFT, x2: W, y1: y(v), y2: y(v), class: "grid"}),
    s("text", {x: LEFT - 4, y: y(v) + 4, class: "tick", "text-anchor": "end"}, v.toLocaleString()),
  ])};
}

// Buckets {le: [...], counts: [one per bound, then one above the last]} as bars, labelled by `label(lower, upper)`.
export function buckets(title, data, label, note = "") {
  if (!data || !data.counts || !data.counts.some((n) => n > 0)) return frame(title, "no data yet", []);
  const bounds = [...data.le, null];
  const max = Math.max(...data.counts);
  const {y, lines} = axis(max);
  const width = (W - LEFT) / data.counts.length;
  const total = data.counts.reduce((a, b) => a + b, 0);
  const bars = data.counts.map((count, i) => {
    const x = LEFT + i * width;
    const text = label(i ? bounds[i - 1] : null, bounds[i]);
    return [
      s("rect", {x: x + 2, y: y(count), width: width - 4, height: H - BOTTOM - y(count), class: "bar"},
        s("title", {}, `${text}: ${count.toLocaleString()} (${Math.round((100 * count) / total)}%)`)),
      s("text", {x: x + width / 2, y: H - BOTTOM + 14, class: "tick", "text-anchor": "middle"}, text),
    ];
  });
  return frame(title, note || `${total.toLocaleString()} in all`, [lines, bars]);
}

// Arrivals (bars) and completions (a line) per bin of `bin_s` seconds from `start_ns`.
export function timeline(title, data) {
  if (!data || !data.bin_s || (!data.arrivals.length && !data.completions.length)) return frame(title, "no data yet", []);
  const bins = Math.max(...[...data.arrivals, ...data.completions].map(([bin]) => bin)) + 1;
  const count = (series) => { const out = new Array(bins).fill(0); for (const [b, n] of series) out[b] = n; return out; };
  const arrivals = count(data.arrivals), completions = count(data.completions);
  const {y, lines} = axis(Math.max(...arrivals, ...completions));
  const width = (W - LEFT) / bins;
  const bars = arrivals.map((n, i) => s("rect", {x: LEFT + i * width + 1, y: y(n), width: Math.max(1, width - 2),
    height: H - BOTTOM - y(n), class: "bar"}, s("title", {}, `${n} arrived`)));
  const points = completions.map((n, i) => `${LEFT + (i + 0.5) * width},${y(n)}`).join(" ");
  const start = new Date(data.start_ns / 1e6), end = new Date(data.start_ns / 1e6 + bins * data.bin_s * 1000);
  const clock = (d) => d.toLocaleTimeString(undefined, {hour: "2-digit", minute: "2-digit"});
  return frame(title, `bars: arrivals, line: completions, per ${data.bin_s >= 60 ? data.bin_s / 60 + " min" : data.bin_s + " s"}`, [
    lines, bars, s("polyline", {points, class: "line"}),
    s("text", {x: LEFT, y: H - 8, class: "tick"}, clock(start)),
    s("text", {x: W, y: H - 8, class: "tick", "text-anchor": "end"}, clock(end)),
  ]);
}

// Labels of buckets bounded in seconds, shown in ms; and of frame intervals, shown as frames per second.
export const ms = (lower, upper) => upper === null ? `>${Math.round(lower * 1000)}` : `≤${+(upper * 1000).toPrecision(2)}`;
export const plain = (lower, upper) => upper === null ? `>${lower}` : `≤${upper}`;
export const fps = (lower, upper) => upper === null ? `<${Math.round(1 / lower)}` : `≥${Math.round(1 / upper)}`;
