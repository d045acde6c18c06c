// Draws game states on the canvas: keeps only the newest state (no frame queue) and paints it on the next animation
// frame, once every picture the scene names has loaded (a progress bar until then).

import { clientNow } from "./input.js";
import { loadAssets } from "./assets.js";
import { KINDS, alphaOf, markOwn } from "./shapes.js";
import { applyState, makeStore, moving, objectsNow } from "./objects.js";

let view = null; // the running renderer, see startRenderer
let ownAgent = null; // id of the object this participant plays, ringed when several play on one screen
// Draw times not yet reported: [{g, e, f: [steps], ms: [client ms]}], one entry per game episode.
// Kept across stopRenderer so the last frames of a game are still reported after it ends.
let drawTimes = [];
const MAX_PENDING_DRAWS = 600; // a tab that cannot report for long keeps only the newest frames

/** Starts drawing into `canvas`, a game area of width x height CSS pixels with a background colour, in `coordinates`
 * (fractions of the game area, or its pixels), with the pictures of `assets` loaded first; report(text) is told of a
 * sprite frame the scene's atlases do not have, or a picture that did not load. */
export function startRenderer(canvas, { width, height, background, coordinates, assets }, onHud, report = () => {}) {
  stopRenderer();
  const v = { canvas, ctx: canvas.getContext("2d"), width, height, background: background || "#fff", onHud,
    pixels: coordinates === "pixels", latest: null, hud: null, drawn: null, shown: null, store: makeStore(),
    bitmap: null, bitmapState: null, decoding: false, raf: 0, onResize: () => { fitCanvas(); requestDraw(); },
    atlases: null, loading: { done: 0, total: 0, failed: null }, missing: new Set(), report };
  view = v;
  window.addEventListener("resize", v.onResize);
  fitCanvas();
  if (Object.keys(assets?.atlases || {}).length || assets?.images?.length) {
    loadAssets(assets, (done, total) => { v.loading.done = done; v.loading.total = total; v.drawn = null; requestDraw(); })
      .then(({ atlases }) => { v.atlases = atlases; })
      .catch((err) => { v.loading.failed = String(err?.message || err); report(`pictures did not load: ${v.loading.failed}`); })
      .finally(() => { v.drawn = null; requestDraw(); });
  } else {
    v.atlases = new Map(); // nothing to load: the first state is drawn at once
  }
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
  // Permanent objects live for one game episode (the pod re-sends them for each episode and after a reconnect);
  // objects with ids are kept between frames, which carry only those that changed.
  if (!state.img) applyState(view.store, state, clientNow());
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

// While the scene's pictures load: the background and a progress bar (or what went wrong).
function drawLoading(v) {
  const { ctx, canvas } = v;
  const k = canvas.width / v.width;
  const [w, h] = [canvas.width * 0.5, 10 * k];
  const [x, y] = [(canvas.width - w) / 2, canvas.height / 2];
  const { done, total, failed } = v.loading;
  ctx.fillStyle = "#d0d7de";
  ctx.fillRect(x, y, w, h);
  ctx.fillStyle = "#1f6feb";
  ctx.fillRect(x, y, total ? (w * done) / total : 0, h);
  ctx.fillStyle = "#1f2328";
  ctx.font = `${14 * k}px sans-serif`;
  ctx.textAlign = "center";
  ctx.textBaseline = "bottom";
  ctx.fillText(failed ? "The game's pictures could not be loaded." : `Loading… ${done} of ${total}`, canvas.width / 2, y - 6 * k);
}

// A sprite whose frame is not in its atlas is left out; the page reports each such name once.
function missingFrame(v, o) {
  const name = `${o.atlas}/${o.frame}`;
  if (v.missing.has(name) || v.missing.size >= 20) return;
  v.missing.add(name);
  v.report(`sprite frame ${JSON.stringify(String(o.frame))} is not in atlas ${JSON.stringify(String(o.atlas))}`);
}

// The draw time is taken when the canvas has been painted (the screen shows it at the next display refresh). Not
// requestAnimationFrame's timestamp: that is the frame's vsync, which can be earlier than the arrival of the state
// it paints (measured: up to 18 ms before the tick in Chromium).
function draw() {
  const v = view;
  if (!v) return;
  v.raf = 0;
  const ready = v.atlases !== null;
  const state = v.latest?.img ? v.bitmapState : v.latest;
  const animating = moving(v.store);
  if (state && state === v.drawn && !animating) return;
  const { ctx, canvas } = v;
  const k = canvas.width / v.width; // device pixels per game-area CSS pixel
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.globalAlpha = 1;
  ctx.fillStyle = v.background;
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  if (!ready) { drawLoading(v); return; }
  if (state?.img && v.bitmap) ctx.drawImage(v.bitmap, 0, 0, canvas.width, canvas.height);
  const space = { sx: v.pixels ? k : canvas.width, sy: v.pixels ? k : canvas.height, k, atlases: v.atlases,
    redraw: () => { if (view === v) { v.drawn = null; requestDraw(); } }, missing: (o) => missingFrame(v, o) };
  const objects = state?.img ? [] : objectsNow(v.store, clientNow());
  for (const obj of objects) {
    const fn = Object.hasOwn(KINDS, obj?.kind) ? KINDS[obj.kind] : null; // unknown kinds are skipped
    if (!fn) continue;
    ctx.save();
    ctx.globalAlpha = alphaOf(obj);
    try { fn(ctx, obj, space); } catch { /* a bad object must not stop the frame */ }
    ctx.restore();
  }
  // The ring goes over everything, so a partner's square passing on top cannot hide whose is whose.
  const own = ownAgent === null ? null : objects.findLast((o) => o?.id === ownAgent);
  if (own) {
    ctx.save();
    try { markOwn(ctx, own, space, canvas.width); } catch { /* as above */ }
    ctx.restore();
  }
  if (moving(v.store)) requestDraw(); // a tween is under way: the next display frame shows it further on
  v.drawn = state;
  if (!state) return;
  // A redraw of the frame already on screen (a resize, the ring changing, a tween) keeps its first draw time.
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
