// Tests of sprites, atlases, alpha, pixel coordinates, tweens and frames that carry only what changed, in
// gymkube/static/js/renderer.js, drawing into a context that records where things land on the canvas.
import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { fakeContext } from "./canvas_fake.mjs";

let frame = null; // the pending animation frame callback
let clock = 1000;
globalThis.window = Object.assign(new EventTarget(), { innerHeight: 1000, devicePixelRatio: 1 });
globalThis.requestAnimationFrame = (fn) => { frame = fn; return 1; };
globalThis.cancelAnimationFrame = () => { frame = null; };
performance.now = () => clock;

// Pictures "load" on the next microtask; the frame list comes from the fake fetch.
const requested = [];
globalThis.Image = class {
  set src(url) {
    requested.push(url);
    this.url = url;
    queueMicrotask(() => {
      if (url.includes("missing")) { this.onerror?.(); return; }
      Object.assign(this, { complete: true, naturalWidth: 64 });
      this.onload?.();
    });
  }
};
const FRAMES = {
  frames: {
    chef: { frame: { x: 0, y: 0, w: 32, h: 48 } },
    onion: { frame: { x: 32, y: 0, w: 16, h: 16 }, trimmed: true, spriteSourceSize: { x: 8, y: 4, w: 16, h: 16 },
      sourceSize: { w: 32, h: 32 } },
    plate: { frame: { x: 48, y: 0, w: 20, h: 10 }, rotated: true }, // 20 x 10 when drawn, stored turned: 10 x 20
  },
  meta: { image: "kitchen.png" },
};
globalThis.fetch = async (url) => ({ ok: !url.includes("missing"), status: 404, json: async () => FRAMES });

const { startRenderer, stopRenderer, pushState, setOwnAgent } = await import("../../gymkube/static/js/renderer.js");
const { parseFrames } = await import("../../gymkube/static/js/assets.js");

const ATLAS = { kitchen: { image: "files/kitchen.png", frames: "files/kitchen.json" } };
let canvas;
let problems;
const draw = () => { const fn = frame; frame = null; fn?.(); };
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

async function start(options = {}) {
  stopRenderer();
  canvas = fakeContext();
  problems = [];
  const element = { width: 0, height: 0, style: {}, parentElement: { clientWidth: 400 }, getContext: () => canvas.ctx };
  startRenderer(element, { width: 400, height: 200, background: "#fff", assets: { atlases: ATLAS }, ...options },
    () => {}, (text) => problems.push(text));
  await settle();
  draw();
  canvas.reset();
}
const images = () => canvas.drawn.filter((d) => d.what === "image");
const fills = () => canvas.drawn.filter((d) => d.what === "fill");

beforeEach(() => start());

test("a JSON-hash and a JSON-array frame list give the same frames, trimmed and rotated ones placed", () => {
  const hash = parseFrames(FRAMES);
  const array = parseFrames({ frames: Object.entries(FRAMES.frames).map(([filename, f]) => ({ filename, ...f })) });
  assert.deepEqual([...hash], [...array]);
  assert.deepEqual(hash.get("onion"), { x: 32, y: 0, w: 16, h: 16, rotated: false, sourceW: 32, sourceH: 32, offX: 8, offY: 4 });
  assert.deepEqual(hash.get("plate"), { x: 48, y: 0, w: 20, h: 10, rotated: true, sourceW: 20, sourceH: 10, offX: 0, offY: 0 });
  assert.equal(parseFrames({ frames: { bad: { frame: { x: "a" } } } }).size, 0);
});

test("a hostile frame list is kept to its first 4096 frames with names of at most 200 characters", () => {
  const one = { frame: { x: 0, y: 0, w: 1, h: 1 } };
  const huge = Object.fromEntries(Array.from({ length: 50_000 }, (_, i) => [`f${i}`, one]));
  const hash = parseFrames({ frames: huge });
  assert.equal(hash.size, 4096);
  assert.ok(hash.has("f0") && hash.has("f4095") && !hash.has("f4096"));
  assert.equal(parseFrames({ frames: Array.from({ length: 50_000 }, (_, i) => ({ filename: `f${i}`, ...one })) }).size, 4096);
  const names = parseFrames({ frames: { ["n".repeat(201)]: one, ["n".repeat(200)]: one, __proto__: one } });
  assert.deepEqual([...names.keys()], ["n".repeat(200)]); // (a literal __proto__ is a prototype, not a key)
  // JSON makes "__proto__" a key like any other, and a Map keeps it as a frame name without touching prototypes
  assert.equal(parseFrames({ frames: JSON.parse('{"__proto__": {"frame": {"x": 0, "y": 0, "w": 1, "h": 1}}}') }).size, 1);
  assert.equal(parseFrames({ frames: "not a list" }).size, 0);
  assert.equal(parseFrames(null).size, 0);
});

test("the loading bar shows progress until every picture has loaded, then the first frame is drawn", async () => {
  stopRenderer();
  canvas = fakeContext();
  const element = { width: 0, height: 0, style: {}, parentElement: { clientWidth: 400 }, getContext: () => canvas.ctx };
  startRenderer(element, { width: 400, height: 200, assets: { atlases: ATLAS, images: ["files/logo.png"] } }, () => {});
  pushState({ g: "g", e: 1, f: 0, o: [{ kind: "sprite", atlas: "kitchen", frame: "chef", x: 0, y: 0 }] });
  draw();
  assert.deepEqual(canvas.texts.map((t) => t.text), ["Loading… 0 of 3"]);
  assert.equal(images().length, 0, "nothing of the game is drawn before its pictures are there");
  await settle();
  draw();
  assert.equal(images().length, 1);
  assert.ok(requested.includes("files/logo.png") && requested.includes("files/kitchen.png"));
});

test("a picture that does not load is said on the canvas and reported", async () => {
  stopRenderer();
  canvas = fakeContext();
  problems = [];
  const element = { width: 0, height: 0, style: {}, parentElement: { clientWidth: 400 }, getContext: () => canvas.ctx };
  const assets = { atlases: { broken: { image: "files/missing.png", frames: "files/missing.json" } } };
  startRenderer(element, { width: 400, height: 200, assets }, () => {}, (text) => problems.push(text));
  await settle();
  draw();
  assert.match(canvas.texts.at(-1).text, /could not be loaded/);
  assert.match(problems[0], /missing/);
});

test("a sprite is drawn from its frame at its own size, or at w x h, scaled, in fractions or pixels", async () => {
  pushState({ g: "g", e: 1, f: 1, o: [
    { kind: "sprite", atlas: "kitchen", frame: "chef", x: 0.25, y: 0.5 },
    { kind: "sprite", atlas: "kitchen", frame: "chef", x: 0, y: 0, w: 0.1, h: 0.5, scale: 2 },
  ] });
  draw();
  const [own, sized] = images();
  assert.deepEqual(own.source, [0, 0, 32, 48]);
  assert.deepEqual(own.box, [100, 100, 32, 48]);
  assert.deepEqual(sized.box, [0, 0, 80, 200]);
  await start({ coordinates: "pixels" });
  pushState({ g: "g", e: 1, f: 1, o: [{ kind: "sprite", atlas: "kitchen", frame: "chef", x: 100, y: 20, w: 64, h: 24 },
    { kind: "rect", x: 300, y: 100, w: 50, h: 25 }] });
  draw();
  assert.deepEqual(images()[0].box, [100, 20, 64, 24]);
  assert.deepEqual(fills()[0].shapes[0], [300, 100, 50, 25]);
});

test("flip mirrors a sprite in place, angle turns it about its centre, trimmed and rotated frames land right", () => {
  pushState({ g: "g", e: 1, f: 1, o: [
    { kind: "sprite", atlas: "kitchen", frame: "chef", x: 0, y: 0, flip: "x" },
    { kind: "sprite", atlas: "kitchen", frame: "chef", x: 0, y: 0, angle: Math.PI / 2 },
    { kind: "sprite", atlas: "kitchen", frame: "onion", x: 0, y: 0 },
    { kind: "sprite", atlas: "kitchen", frame: "plate", x: 0, y: 0 },
  ] });
  draw();
  const [flipped, turned, onion, plate] = images();
  assert.deepEqual([flipped.box, flipped.mirrored], [[0, 0, 32, 48], true]);
  assert.deepEqual([turned.box, turned.turn], [[-8, 8, 48, 32], 1]); // 48 wide once turned, same centre (16, 24)
  assert.deepEqual(onion.box, [8, 4, 16, 16]); // trimmed: its place within the 32 x 32 source
  assert.deepEqual([plate.source, plate.box, plate.turn], [[48, 0, 10, 20], [0, 0, 20, 10], -1]);
});

test("alpha applies to every kind and is clamped; an unknown frame is left out and reported once", () => {
  pushState({ g: "g", e: 1, f: 1, o: [
    { kind: "sprite", atlas: "kitchen", frame: "chef", x: 0, y: 0, alpha: 0.25 },
    { kind: "rect", x: 0, y: 0, w: 0.1, h: 0.1, alpha: 7 },
    { kind: "circle", x: 0.5, y: 0.5, r: 0.1, alpha: -1 },
    { kind: "sprite", atlas: "kitchen", frame: "chef_up", x: 0, y: 0 },
    { kind: "sprite", atlas: "kitchen", frame: "chef_up", x: 0.5, y: 0 },
  ] });
  draw();
  assert.deepEqual([images()[0].alpha, ...fills().map((d) => d.alpha)], [0.25, 1, 0]);
  assert.equal(images().length, 1);
  assert.deepEqual(problems, ['sprite frame "chef_up" is not in atlas "kitchen"']);
});

test("frames that carry only changes keep what they do not mention, drop what they remove, and start over on k", () => {
  const chef = { id: "chef", kind: "sprite", atlas: "kitchen", frame: "chef", x: 0, y: 0 };
  const onion = { id: "onion", kind: "sprite", atlas: "kitchen", frame: "onion", x: 0.5, y: 0 };
  const boxes = () => { draw(); const b = images().map((d) => d.box[0]); canvas.reset(); return b; };
  pushState({ g: "g", e: 1, f: 1, k: true, u: [chef, onion], o: [] });
  assert.deepEqual(boxes(), [0, 208]);
  pushState({ g: "g", e: 1, f: 2, u: [{ ...chef, x: 0.25 }], o: [] }); // the onion is not mentioned: it stays
  assert.deepEqual(boxes(), [100, 208]);
  pushState({ g: "g", e: 1, f: 3, x: ["chef"], o: [] });
  assert.deepEqual(boxes(), [208]);
  pushState({ g: "g", e: 1, f: 4, k: true, u: [chef], o: [] });
  assert.deepEqual(boxes(), [0]);
  pushState({ g: "g", e: 2, f: 0, o: [] }); // a new episode starts from nothing
  assert.deepEqual(boxes(), []);
});

test("a tweened object moves from where it was shown to its new place over its milliseconds", () => {
  const chef = { id: "chef", kind: "sprite", atlas: "kitchen", frame: "chef", x: 0, y: 0, tween: { ms: 100 } };
  const at = (ms) => { clock = ms; draw(); const x = images()[0].box[0]; canvas.reset(); return x; };
  clock = 1000;
  pushState({ g: "g", e: 1, f: 1, u: [chef], o: [] });
  assert.equal(at(1000), 0);
  pushState({ g: "g", e: 1, f: 2, u: [{ ...chef, x: 0.5 }], o: [] }); // 200 px to the right
  assert.equal(at(1050), 100);
  assert.ok(frame, "a tween under way asks for the next display frame by itself");
  pushState({ g: "g", e: 1, f: 3, u: [{ ...chef, x: 0 }], o: [] }); // turned back half-way: from where it is shown
  assert.equal(at(1100), 50);
  assert.equal(at(1200), 0);
  assert.equal(frame, null, "no more frames are asked for once it has arrived");
  pushState({ g: "g", e: 1, f: 4, u: [{ ...chef, x: 0.25, tween: undefined }] }); // no tween: it jumps
  assert.equal(at(1210), 100);
});

test("the own agent's ring goes around its sprite", () => {
  setOwnAgent("chef");
  pushState({ g: "g", e: 1, f: 1, u: [{ id: "chef", kind: "sprite", atlas: "kitchen", frame: "chef", x: 0.25, y: 0.5 }] });
  draw();
  const rings = canvas.drawn.filter((d) => d.what === "stroke").map((d) => d.shapes[0]);
  assert.deepEqual(rings, [[96, 96, 40, 56], [96, 96, 40, 56]]);
  assert.deepEqual(canvas.texts.map((t) => t.text), ["YOU"]);
});
