// A 2D canvas context for renderer tests under node: it keeps the current transform and alpha and records where
// each picture and filled rectangle lands on the canvas (corners through the transform), not how it got there.

const multiply = (m, [a, b, c, d, e, f]) => [
  m[0] * a + m[2] * b, m[1] * a + m[3] * b,
  m[0] * c + m[2] * d, m[1] * c + m[3] * d,
  m[0] * e + m[2] * f + m[4], m[1] * e + m[3] * f + m[5],
];

const round = (x) => Math.round(x * 1000) / 1000 + 0; // + 0: no -0

export function fakeContext() {
  let matrix = [1, 0, 0, 1, 0, 0];
  const stack = [];
  const drawn = []; // {what, args, box: [x, y, w, h] on the canvas, flipX, flipY, turn, alpha}
  const texts = [];
  const ctx = {
    globalAlpha: 1, fillStyle: "#000", strokeStyle: "#000", lineWidth: 1, font: "", textAlign: "", textBaseline: "",
    lineCap: "", lineJoin: "", path: [],
    save() { stack.push({ matrix, alpha: ctx.globalAlpha }); },
    restore() { const top = stack.pop(); if (top) { matrix = top.matrix; ctx.globalAlpha = top.alpha; } },
    setTransform(a, b, c, d, e, f) { matrix = [a, b, c, d, e, f]; },
    translate(x, y) { matrix = multiply(matrix, [1, 0, 0, 1, x, y]); },
    scale(x, y) { matrix = multiply(matrix, [x, 0, 0, y, 0, 0]); },
    rotate(a) { matrix = multiply(matrix, [Math.cos(a), Math.sin(a), -Math.sin(a), Math.cos(a), 0, 0]); },
    place(x, y, w, h) {
      const corners = [[x, y], [x + w, y], [x, y + h], [x + w, y + h]].map(([px, py]) =>
        [matrix[0] * px + matrix[2] * py + matrix[4], matrix[1] * px + matrix[3] * py + matrix[5]]);
      const xs = corners.map((p) => p[0]);
      const ys = corners.map((p) => p[1]);
      const [x0, y0] = [Math.min(...xs), Math.min(...ys)];
      return [x0, y0, Math.max(...xs) - x0, Math.max(...ys) - y0].map(round);
    },
    orientation() {
      const turn = round(Math.atan2(matrix[1], matrix[0]) / (Math.PI / 2));
      const det = matrix[0] * matrix[3] - matrix[1] * matrix[2];
      return { turn, mirrored: det < 0 };
    },
    drawImage(image, ...args) {
      const [sx, sy, sw, sh, dx, dy, dw, dh] = args.length === 8 ? args : [0, 0, 0, 0, ...args];
      drawn.push({ what: "image", image, source: [sx, sy, sw, sh], box: ctx.place(dx, dy, dw, dh),
        alpha: ctx.globalAlpha, ...ctx.orientation() });
    },
    fillRect(x, y, w, h) { drawn.push({ what: "fillRect", box: ctx.place(x, y, w, h), color: ctx.fillStyle, alpha: ctx.globalAlpha }); },
    beginPath() { ctx.path = []; },
    rect(x, y, w, h) { ctx.path.push(ctx.place(x, y, w, h)); },
    arc(x, y, r) { ctx.path.push(ctx.place(x - r, y - r, 2 * r, 2 * r)); },
    moveTo(x, y) { ctx.path.push(ctx.place(x, y, 0, 0)); },
    lineTo(x, y) { ctx.path.push(ctx.place(x, y, 0, 0)); },
    closePath() {},
    fill() { drawn.push({ what: "fill", shapes: ctx.path, color: ctx.fillStyle, alpha: ctx.globalAlpha }); },
    stroke() { drawn.push({ what: "stroke", shapes: ctx.path, color: ctx.strokeStyle, alpha: ctx.globalAlpha }); },
    fillText(text, x, y) { texts.push({ text: String(text), at: ctx.place(x, y, 0, 0).slice(0, 2) }); },
    strokeText() {},
    measureText(text) { return { width: 8 * String(text).length }; },
  };
  return { ctx, drawn, texts, reset() { drawn.length = 0; texts.length = 0; } };
}
