// Draws game states on the canvas: keeps only the newest state (no frame queue) and paints it on the next animation frame.

import { clientNow } from "./input.js";

const images = new Map(); // src -> HTMLImageElement, shared across games
let view = null; // the running renderer, see startRenderer
let ownAgent = null; // id of the object this participant plays, ringed when several play on one screen
// Draw times not yet reported: [{g, e, f: [steps], ms: [client ms]}], one entry per game episode.
// Kept across stopRenderer so the last frames of a game are still reported after it ends.
let drawTimes = [];
const MAX_PENDING_DRAWS = 600; // a tab that cannot report for long keeps only the newest frames

/** Starts drawing into `canvas`, a game area of width x height CSS pixels with a background colour. */
export function startRenderer(canvas, { width, height, background }, onHud) {
  stopRenderer();
  view = { canvas, ctx: canvas.getContext("2d"), width, height, background: background || "#fff", onHud,
    latest: null, hud: null, drawn: null, shown: null, scope: null, permanent: new Map(), bitmap: null,
    bitmapState: null, decoding: false, raf: 0, onResize: () => { fitCanvas(); requestDraw(); } };
  window.addEventListener("resize", view.onResize);
  fitCanvas();
  requestDraw();
}

/** Stops drawing and forgets the game's state. */
export function stopRenderer() {
  if (!view) return;
  cancelAnimationFrame(view.raf);
  window.removeEventListener("resize", view.onResize);
  view.bitmap?.close?.();
  view = null;
  ownAgent = null; // belongs to one game; the next one names its own
}

/** Rings the object whose `id` is `agent` as the participant's own (with several players); null rings nothing. */
export function setOwnAgent(agent) {
  const next = agent == null ? null : String(agent);
  if (next === ownAgent) return;
  ownAgent = next;
  if (view) { view.drawn = null; requestDraw(); }
}

/** Takes a `state` message; only the newest one is ever drawn. */
export function pushState(state) {
  if (!view || !state) return;
  // Permanent objects live for one game episode (the pod re-sends them for each episode and after a reconnect).
  const scope = `${state.g}\u0000${state.e}`;
  if (scope !== view.scope) { view.scope = scope; view.permanent.clear(); }
  for (const obj of state.p || []) view.permanent.set(obj?.id ?? Symbol("unnamed"), obj);
  if (state.hud != null) view.hud = state.hud; // sent when it changes: a state skipped unseen must not lose it
  view.latest = state;
  if (state.img) decodeLatest(); else requestDraw();
}

/** Episode of the newest state received (drawn or about to be), or null before the first one. */
export function latestEpisode() {
  return view?.latest ? view.latest.e : null;
}

/** {g, e, f, ms} (game, episode, step, client time drawn) of the newest state on screen, or null before the first one. */
export function shownFrame() {
  return view ? view.shown : null;
}

function fitCanvas() {
  const { canvas, width, height } = view;
  const box = canvas.parentElement?.clientWidth || width;
  const scale = Math.min(1, box / width, Math.max(0.25, (window.innerHeight - 160) / height));
  const dpr = window.devicePixelRatio || 1;
  canvas.style.width = `${Math.round(width * scale)}px`;
  canvas.style.height = `${Math.round(height * scale)}px`;
  canvas.width = Math.round(width * scale * dpr);
  canvas.height = Math.round(height * scale * dpr);
  view.drawn = null;
}

const requestDraw = () => { if (view && !view.raf) view.raf = requestAnimationFrame(draw); };

// rgb frames: decode the newest image only; a frame that arrives meanwhile is decoded next.
async function decodeLatest() {
  if (view.decoding) return;
  const v = view;
  v.decoding = true;
  try {
    while (v.latest?.img && v.latest !== v.bitmapState) {
      const state = v.latest;
      let bitmap = null;
      try {
        bitmap = await createImageBitmap(new Blob([state.img], { type: state.fmt || "image/png" }));
      } catch { /* an undecodable frame is skipped; the next one replaces it */ }
      if (view !== v) { bitmap?.close?.(); return; }
      v.bitmapState = state;
      if (!bitmap) continue;
      v.bitmap?.close?.();
      v.bitmap = bitmap;
      requestDraw();
    }
  } finally {
    v.decoding = false;
  }
}

// The draw time is taken when the canvas has been painted (the screen shows it at the next display
// refresh). Not requestAnimationFrame's timestamp: that is the frame's vsync, which can be earlier
// than the arrival of the state it paints (measured: up to 18 ms before the tick in Chromium).
function draw() {
  const v = view;
  if (!v) return;
  v.raf = 0;
  const state = v.latest?.img ? v.bitmapState : v.latest;
  if (state && state === v.drawn) return;
  const { ctx, canvas } = v;
  const k = canvas.width / v.width; // device pixels per game-area CSS pixel
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = v.background;
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  if (state?.img && v.bitmap) ctx.drawImage(v.bitmap, 0, 0, canvas.width, canvas.height);
  const objects = [...v.permanent.values(), ...(state?.o || [])]
    .map((o, i) => [o, i]).sort((a, b) => depth(a[0]) - depth(b[0]) || a[1] - b[1]);
  for (const [obj] of objects) {
    const fn = Object.hasOwn(KINDS, obj?.kind) ? KINDS[obj.kind] : null; // unknown kinds are skipped
    if (!fn) continue;
    ctx.save();
    try { fn(ctx, obj, canvas.width, canvas.height, k); } catch { /* a bad object must not stop the frame */ }
    ctx.restore();
  }
  // The ring goes over everything, so a partner's square passing on top cannot hide whose is whose.
  const own = ownAgent === null ? null : objects.findLast(([o]) => o?.id === ownAgent)?.[0];
  if (own) {
    ctx.save();
    try { markOwn(ctx, own, canvas.width, canvas.height, k); } catch { /* as above */ }
    ctx.restore();
  }
  v.drawn = state;
  if (!state) return;
  // A redraw of the frame already on screen (a resize, the ring changing) keeps its first draw time.
  if (v.shown?.f === state.f && v.shown?.e === state.e && v.shown?.g === state.g) return;
  const ms = clientNow();
  v.shown = { g: state.g, e: state.e, f: state.f, ms };
  logDraw(state.g, state.e, state.f, ms);
  v.onHud?.(v.hud ?? "");
}

function logDraw(g, e, f, ms) {
  if (typeof g !== "string" || !Number.isInteger(e) || !Number.isInteger(f)) return;
  let last = drawTimes[drawTimes.length - 1];
  if (!last || last.g !== g || last.e !== e) drawTimes.push((last = { g, e, f: [], ms: [] }));
  last.f.push(f);
  last.ms.push(ms);
  let pending = drawTimes.reduce((n, d) => n + d.f.length, 0);
  while (pending > MAX_PENDING_DRAWS) {
    const first = drawTimes[0];
    first.f.shift(); first.ms.shift(); pending -= 1;
    if (!first.f.length) drawTimes.shift();
  }
}

/** The draw times logged since the last call ([{g, e, f, ms}], oldest first); the log starts empty again. */
export function takeDrawTimes() {
  const out = drawTimes;
  drawTimes = [];
  return out;
}

const depth = (o) => Number(o?.depth) || 0;

// Fills or strokes the current path in the object's colour (an invalid colour falls back to black).
function paint(ctx, o, fill, k, lineWidth = o.lineWidth ?? 1) {
  ctx.fillStyle = ctx.strokeStyle = "#000";
  ctx.fillStyle = ctx.strokeStyle = o.color || "#000";
  ctx.lineWidth = lineWidth * k;
  if (fill) ctx.fill(); else ctx.stroke();
}

// A box in canvas pixels, with the context rotated by o.angle about its centre.
function box(ctx, o, W, H) {
  const [x, y, w, h] = [o.x * W, o.y * H, o.w * W, o.h * H];
  if (o.angle) { ctx.translate(x + w / 2, y + h / 2); ctx.rotate(o.angle); ctx.translate(-x - w / 2, -y - h / 2); }
  return [x, y, w, h];
}

function path(ctx, points, W, H, close) {
  ctx.beginPath();
  points.forEach(([x, y], i) => (i ? ctx.lineTo(x * W, y * H) : ctx.moveTo(x * W, y * H)));
  if (close) ctx.closePath();
}

// One drawing function per object kind; coordinates are fractions of the canvas, sizes in px are scaled by k.
const KINDS = {
  rect(ctx, o, W, H, k) { ctx.beginPath(); ctx.rect(...box(ctx, o, W, H)); paint(ctx, o, o.fill !== false, k); },
  circle(ctx, o, W, H, k) { ctx.beginPath(); ctx.arc(o.x * W, o.y * H, Math.max(0, o.r * W), 0, 2 * Math.PI); paint(ctx, o, o.fill !== false, k); },
  line(ctx, o, W, H, k) {
    path(ctx, o.points || [], W, H, false);
    ctx.lineCap = ctx.lineJoin = "round";
    paint(ctx, o, false, k, o.width ?? 2);
  },
  polygon(ctx, o, W, H, k) { path(ctx, o.points || [], W, H, true); paint(ctx, o, o.fill !== false, k); },
  text(ctx, o, W, H, k) {
    ctx.font = `${(o.size || 16) * k}px ${o.font || "sans-serif"}`;
    ctx.textAlign = ["left", "center", "right"].includes(o.align) ? o.align : "left";
    ctx.textBaseline = "top";
    ctx.fillStyle = "#000";
    ctx.fillStyle = o.color || "#000";
    ctx.fillText(String(o.text ?? ""), o.x * W, o.y * H);
  },
  image(ctx, o, W, H) {
    const img = loadImage(o.src);
    if (img?.complete && img.naturalWidth) ctx.drawImage(img, ...box(ctx, o, W, H));
  },
};

const RING_GAP = 4; // px between an object and its ring
const LABEL_SIZE = 12; // px

// Traces a ring just outside the object; returns its centre and how far it reaches up and down, or null.
function ring(ctx, o, W, H, gap) {
  ctx.beginPath();
  if (o.kind === "circle") {
    const r = Math.max(0, o.r * W) + gap;
    ctx.arc(o.x * W, o.y * H, r, 0, 2 * Math.PI);
    return { cx: o.x * W, cy: o.y * H, reach: r };
  }
  if (o.kind === "rect" || o.kind === "image") {
    const [x, y, w, h] = box(ctx, o, W, H); // rotated like the object
    ctx.rect(x - gap, y - gap, w + 2 * gap, h + 2 * gap);
    const a = o.angle || 0;
    return { cx: x + w / 2, cy: y + h / 2, reach: (Math.abs(w * Math.sin(a)) + Math.abs(h * Math.cos(a))) / 2 + gap };
  }
  if ((o.kind === "polygon" || o.kind === "line") && o.points?.length) {
    const xs = o.points.map(([x]) => x * W);
    const ys = o.points.map(([, y]) => y * H);
    const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    ctx.rect(x0 - gap, y0 - gap, x1 - x0 + 2 * gap, y1 - y0 + 2 * gap);
    return { cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, reach: (y1 - y0) / 2 + gap };
  }
  return null; // text: no extent to ring
}

// The participant's own object: a dark ring on a white halo (visible on light and dark games) and "YOU" above it,
// or below it when there is no room at the top.
function markOwn(ctx, o, W, H, k) {
  const at = ring(ctx, o, W, H, RING_GAP * k);
  if (!at) return;
  ctx.lineJoin = "round";
  ctx.strokeStyle = "#fff";
  ctx.lineWidth = 6 * k;
  ctx.stroke();
  ctx.strokeStyle = "#111";
  ctx.lineWidth = 3 * k;
  ctx.stroke();
  ctx.setTransform(1, 0, 0, 1, 0, 0); // the label stays upright on a rotated object
  const size = LABEL_SIZE * k;
  ctx.font = `bold ${size}px sans-serif`;
  ctx.textAlign = "center";
  const above = at.cy - at.reach - 2 * k;
  const below = above < size;
  ctx.textBaseline = below ? "top" : "bottom";
  const half = ctx.measureText("YOU").width / 2 + 2 * k;
  const x = Math.min(Math.max(at.cx, half), W - half);
  const y = below ? at.cy + at.reach + 2 * k : above;
  ctx.lineWidth = 4 * k;
  ctx.strokeStyle = "#fff";
  ctx.strokeText("YOU", x, y);
  ctx.fillStyle = "#111";
  ctx.fillText("YOU", x, y);
}

function loadImage(src) {
  if (typeof src !== "string" || !src) return null;
  if (!images.has(src)) {
    const img = new Image();
    img.onload = () => { if (view) { view.drawn = null; requestDraw(); } };
    img.src = src; // relative to the page, e.g. "files/sprite.png"
    images.set(src, img);
  }
  return images.get(src);
}
