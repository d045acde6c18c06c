// Tests for the own-agent ring of gymkube/static/js/renderer.js, drawing into a context that records its calls.
import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";

let frame = null; // the pending animation frame callback
globalThis.window = Object.assign(new EventTarget(), { innerHeight: 1000, devicePixelRatio: 1 });
globalThis.requestAnimationFrame = (fn) => { frame = fn; return 1; };
globalThis.cancelAnimationFrame = () => { frame = null; };
const { startRenderer, stopRenderer, pushState, setOwnAgent } = await import("../../gymkube/static/js/renderer.js");

// A 2D context stand-in: every method call is logged with the style in force at the time.
function recorder() {
  const calls = [];
  const state = { strokeStyle: "#000", fillStyle: "#000", lineWidth: 1, font: "", textAlign: "", textBaseline: "" };
  const ctx = new Proxy(state, {
    get(target, name) {
      if (name in target) return target[name];
      if (name === "measureText") return (text) => ({ width: 8 * String(text).length });
      return (...args) => calls.push({ name, args, strokeStyle: target.strokeStyle, lineWidth: target.lineWidth });
    },
    set(target, name, value) { target[name] = value; return true; },
  });
  return { ctx, calls };
}

let calls;
beforeEach(() => {
  stopRenderer();
  const rec = recorder();
  calls = rec.calls;
  const canvas = { width: 0, height: 0, style: {}, parentElement: { clientWidth: 400 }, getContext: () => rec.ctx };
  startRenderer(canvas, { width: 400, height: 200, background: "#fff" });
});

const draw = () => { const fn = frame; frame = null; fn?.(); };
const state = (f, objects) => ({ g: "g1", e: 1, f, o: objects });
const blue = { id: "blue", kind: "rect", x: 0.25, y: 0.5, w: 0.1, h: 0.2, color: "#00f" };
const red = { id: "red", kind: "circle", x: 0.75, y: 0.5, r: 0.05, color: "#f00" };
const labels = () => calls.filter((c) => c.name === "fillText" && c.args[0] === "YOU");

test("nothing is ringed until the own agent is set", () => {
  pushState(state(1, [blue, red]));
  draw();
  assert.equal(labels().length, 0);
  assert.equal(calls.filter((c) => c.name === "stroke").length, 0);
});

test("the own object gets a dark ring on a white halo and a YOU label above it", () => {
  setOwnAgent("blue");
  pushState(state(1, [blue, red]));
  draw();
  const rects = calls.filter((c) => c.name === "rect");
  // The object itself (x 100, y 100, 40 x 40), then its ring 4 px outside.
  assert.deepEqual(rects.map((c) => c.args), [[100, 100, 40, 40], [96, 96, 48, 48]]);
  const strokes = calls.filter((c) => c.name === "stroke").map((c) => [c.strokeStyle, c.lineWidth]);
  assert.deepEqual(strokes, [["#fff", 6], ["#111", 3]]);
  assert.equal(labels().length, 1);
  const [, x, y] = labels()[0].args;
  assert.equal(x, 120); // centred over the square
  assert.ok(y < 96, `label at ${y} should sit above the ring`);
});

test("the ring follows a circle and the own agent can change or be cleared", () => {
  setOwnAgent("red");
  pushState(state(1, [blue, red]));
  draw();
  const arcs = calls.filter((c) => c.name === "arc").map((c) => c.args.slice(0, 3));
  assert.deepEqual(arcs, [[300, 100, 20], [300, 100, 24]]);
  assert.equal(labels().length, 1);
  calls.length = 0;
  setOwnAgent(null);
  draw(); // the same state is drawn again without the ring
  assert.equal(calls.filter((c) => c.name === "arc").length, 1);
  assert.equal(labels().length, 0);
});

test("near the top edge the label goes below the object", () => {
  setOwnAgent("blue");
  pushState(state(1, [{ ...blue, y: 0 }]));
  draw();
  const [, , y] = labels()[0].args;
  assert.ok(y > 40, `label at ${y} should sit below the object`);
});

test("a new game starts with no own agent", () => {
  setOwnAgent("blue");
  stopRenderer();
  const rec = recorder();
  startRenderer({ width: 0, height: 0, style: {}, parentElement: null, getContext: () => rec.ctx }, { width: 400, height: 200 });
  pushState(state(1, [blue]));
  draw();
  assert.equal(rec.calls.filter((c) => c.name === "fillText").length, 0);
});

test("each new frame's draw time is logged once, by game episode, and the frame on screen carries it", async () => {
  const { takeDrawTimes, shownFrame } = await import("../../gymkube/static/js/renderer.js");
  takeDrawTimes();
  const realNow = performance.now;
  let clock = 1000;
  performance.now = () => clock;
  try {
    const t0 = performance.timeOrigin;
    pushState(state(1, [blue]));
    draw();
    clock = 1010;
    setOwnAgent("blue"); // a redraw of the same frame keeps its first draw time
    draw();
    clock = 1033.5;
    pushState(state(2, [blue]));
    draw();
    clock = 1066;
    pushState({ g: "g1", e: 2, f: 0, o: [blue] });
    draw();
    assert.deepEqual(shownFrame(), { g: "g1", e: 2, f: 0, ms: t0 + 1066 });
    assert.deepEqual(takeDrawTimes(), [
      { g: "g1", e: 1, f: [1, 2], ms: [t0 + 1000, t0 + 1033.5] },
      { g: "g1", e: 2, f: [0], ms: [t0 + 1066] },
    ]);
    assert.deepEqual(takeDrawTimes(), []);
  } finally {
    performance.now = realNow;
  }
});
