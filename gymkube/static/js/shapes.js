// How each kind of object is drawn, and the ring around the participant's own object.
//
// A space says how object coordinates map to the canvas: sx, sy are canvas pixels per unit of x and y (the canvas
// size for `coordinates: fractions`, the device pixels per game pixel for `pixels`), k is device pixels per game
// pixel (line widths, text sizes and a sprite's own size are in game pixels), atlases the scene's loaded atlases.

import { pictureFor } from "./assets.js";

/** An object's opacity, 0..1 (a missing or unreadable `alpha` is opaque). */
export const alphaOf = (o) => (Number.isFinite(o?.alpha) ? Math.min(1, Math.max(0, o.alpha)) : 1);

// Fills or strokes the current path in the object's colour (an invalid colour falls back to black).
function paint(ctx, o, fill, k, lineWidth = o.lineWidth ?? 1) {
  ctx.fillStyle = ctx.strokeStyle = "#000";
  ctx.fillStyle = ctx.strokeStyle = o.color || "#000";
  ctx.lineWidth = lineWidth * k;
  if (fill) ctx.fill(); else ctx.stroke();
}

// A sprite's size on the canvas: its own `w`/`h`, else its frame's size in game pixels; times `scale`.
function spriteSize(o, s, frame) {
  const scale = Number.isFinite(o.scale) ? o.scale : 1;
  const w = o.w != null ? o.w * s.sx : (frame?.sourceW ?? 0) * s.k;
  const h = o.h != null ? o.h * s.sy : (frame?.sourceH ?? 0) * s.k;
  return [w * scale, h * scale];
}

const frameOf = (o, s) => s.atlases?.get(String(o.atlas))?.frames.get(String(o.frame)) ?? null;

/** The box of a rect, image or sprite in canvas pixels ([x, y, w, h], top-left), with the context rotated by
 * o.angle about its centre. */
export function box(ctx, o, s) {
  const [w, h] = o.kind === "sprite" ? spriteSize(o, s, frameOf(o, s)) : [o.w * s.sx, o.h * s.sy];
  const [x, y] = [o.x * s.sx, o.y * s.sy];
  if (o.angle) { ctx.translate(x + w / 2, y + h / 2); ctx.rotate(o.angle); ctx.translate(-x - w / 2, -y - h / 2); }
  return [x, y, w, h];
}

function path(ctx, points, s, close) {
  ctx.beginPath();
  points.forEach(([x, y], i) => (i ? ctx.lineTo(x * s.sx, y * s.sy) : ctx.moveTo(x * s.sx, y * s.sy)));
  if (close) ctx.closePath();
}

function sprite(ctx, o, s) {
  const sheet = s.atlases?.get(String(o.atlas));
  const frame = frameOf(o, s);
  if (!frame) { s.missing?.(o); return; }
  const [x, y, w, h] = box(ctx, o, s);
  ctx.translate(x + w / 2, y + h / 2);
  const flip = o.flip === true ? "x" : String(o.flip || "");
  ctx.scale(flip.includes("x") ? -1 : 1, flip.includes("y") ? -1 : 1);
  // A trimmed frame keeps its place within its source size.
  const [fx, fy] = [w / frame.sourceW, h / frame.sourceH];
  const [dx, dy, dw, dh] = [-w / 2 + frame.offX * fx, -h / 2 + frame.offY * fy, frame.w * fx, frame.h * fy];
  if (frame.rotated) { // stored turned 90 degrees clockwise: turn it back
    ctx.translate(dx + dw / 2, dy + dh / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.drawImage(sheet.image, frame.x, frame.y, frame.h, frame.w, -dh / 2, -dw / 2, dh, dw);
  } else {
    ctx.drawImage(sheet.image, frame.x, frame.y, frame.w, frame.h, dx, dy, dw, dh);
  }
}

/** One drawing function per object kind: fn(ctx, object, space). */
export const KINDS = {
  rect(ctx, o, s) { ctx.beginPath(); ctx.rect(...box(ctx, o, s)); paint(ctx, o, o.fill !== false, s.k); },
  circle(ctx, o, s) { ctx.beginPath(); ctx.arc(o.x * s.sx, o.y * s.sy, Math.max(0, o.r * s.sx), 0, 2 * Math.PI); paint(ctx, o, o.fill !== false, s.k); },
  line(ctx, o, s) {
    path(ctx, o.points || [], s, false);
    ctx.lineCap = ctx.lineJoin = "round";
    paint(ctx, o, false, s.k, o.width ?? 2);
  },
  polygon(ctx, o, s) { path(ctx, o.points || [], s, true); paint(ctx, o, o.fill !== false, s.k); },
  text(ctx, o, s) {
    ctx.font = `${(o.size || 16) * s.k}px ${o.font || "sans-serif"}`;
    ctx.textAlign = ["left", "center", "right"].includes(o.align) ? o.align : "left";
    ctx.textBaseline = "top";
    ctx.fillStyle = "#000";
    ctx.fillStyle = o.color || "#000";
    ctx.fillText(String(o.text ?? ""), o.x * s.sx, o.y * s.sy);
  },
  image(ctx, o, s) {
    const img = pictureFor(o.src, s.redraw);
    if (img?.complete && img.naturalWidth) ctx.drawImage(img, ...box(ctx, o, s));
  },
  sprite,
};

const RING_GAP = 4; // px between an object and its ring
const LABEL_SIZE = 12; // px

// Traces a ring just outside the object; returns its centre and how far it reaches up and down, or null.
function ring(ctx, o, s, gap) {
  ctx.beginPath();
  if (o.kind === "circle") {
    const r = Math.max(0, o.r * s.sx) + gap;
    ctx.arc(o.x * s.sx, o.y * s.sy, r, 0, 2 * Math.PI);
    return { cx: o.x * s.sx, cy: o.y * s.sy, reach: r };
  }
  if (o.kind === "rect" || o.kind === "image" || o.kind === "sprite") {
    const [x, y, w, h] = box(ctx, o, s); // rotated like the object
    ctx.rect(x - gap, y - gap, w + 2 * gap, h + 2 * gap);
    const a = o.angle || 0;
    return { cx: x + w / 2, cy: y + h / 2, reach: (Math.abs(w * Math.sin(a)) + Math.abs(h * Math.cos(a))) / 2 + gap };
  }
  if ((o.kind === "polygon" || o.kind === "line") && o.points?.length) {
    const xs = o.points.map(([x]) => x * s.sx);
    const ys = o.points.map(([, y]) => y * s.sy);
    const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    ctx.rect(x0 - gap, y0 - gap, x1 - x0 + 2 * gap, y1 - y0 + 2 * gap);
    return { cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, reach: (y1 - y0) / 2 + gap };
  }
  return null; // text: no extent to ring
}

/** The participant's own object: a dark ring on a white halo (visible on light and dark games) and "YOU" above it,
 * or below it when there is no room at the top. */
export function markOwn(ctx, o, s, canvasWidth) {
  const k = s.k;
  const at = ring(ctx, o, s, RING_GAP * k);
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
  const x = Math.min(Math.max(at.cx, half), canvasWidth - half);
  const y = below ? at.cy + at.reach + 2 * k : above;
  ctx.lineWidth = 4 * k;
  ctx.strokeStyle = "#fff";
  ctx.strokeText("YOU", x, y);
  ctx.fillStyle = "#111";
  ctx.fillText("YOU", x, y);
}
