// Tests for gymkube/static/js/input.js with a stand-in window/document: filtering, repeats, releases, symmetric stop.
import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";

globalThis.window = new EventTarget();
globalThis.document = Object.assign(new EventTarget(), { visibilityState: "visible" });
const { startInput, stopInput, isCapturing } = await import("../../gymkube/static/js/input.js");

function key(type, k, extra = {}) {
  const event = new Event(type, { cancelable: true });
  Object.assign(event, { key: k, repeat: false, ctrlKey: false, metaKey: false, altKey: false, ...extra });
  window.dispatchEvent(event);
  return event;
}

let sent;
beforeEach(() => {
  stopInput();
  sent = [];
  startInput(["ArrowLeft", " ", "a"], (k, d, t) => sent.push([k, d, typeof t]));
});

test("only listed keys are sent, once per press, and they do not scroll", () => {
  assert.equal(key("keydown", "ArrowLeft").defaultPrevented, true);
  assert.equal(key("keydown", "ArrowLeft", { repeat: true }).defaultPrevented, true);
  key("keyup", "ArrowLeft");
  assert.equal(key("keydown", "x").defaultPrevented, false);
  key("keydown", "A"); // Shift or Caps Lock
  key("keyup", "A");
  assert.deepEqual(sent, [["ArrowLeft", true, "number"], ["ArrowLeft", false, "number"], ["a", true, "number"], ["a", false, "number"]]);
});

test("shortcuts with Ctrl/Meta/Alt are left to the browser", () => {
  assert.equal(key("keydown", "a", { ctrlKey: true }).defaultPrevented, false);
  assert.deepEqual(sent, []);
});

test("blur and hidden release every held key", () => {
  key("keydown", "ArrowLeft");
  key("keydown", " ");
  window.dispatchEvent(new Event("blur"));
  assert.deepEqual(sent.slice(2), [["ArrowLeft", false, "number"], [" ", false, "number"]]);
  key("keydown", "a");
  document.visibilityState = "hidden";
  document.dispatchEvent(new Event("visibilitychange"));
  document.visibilityState = "visible";
  assert.deepEqual(sent.at(-1), ["a", false, "number"]);
});

test("stop releases held keys and removes every listener", () => {
  key("keydown", "a");
  stopInput();
  assert.deepEqual(sent, [["a", true, "number"], ["a", false, "number"]]);
  assert.equal(isCapturing(), false);
  assert.equal(key("keydown", "a").defaultPrevented, false);
  window.dispatchEvent(new Event("blur"));
  assert.equal(sent.length, 2);
});

test("gamepad buttons and sticks past the threshold are the keys the pod knows them by", async () => {
  const { padKeys } = await import("../../gymkube/static/js/input.js");
  const mapping = { buttons: { 0: 1, 3: 2 }, axes: { "0-": 3, "1+": 4 }, threshold: 0.5 };
  const pad = (pressed, axes) => ({ buttons: [0, 1, 2, 3].map((i) => ({ pressed: pressed.includes(i) })), axes });
  assert.deepEqual([...padKeys(mapping, [pad([0], [-0.8, 0.2])])].sort(), ["pad:a0-", "pad:b0"]);
  assert.deepEqual([...padKeys(mapping, [pad([], [-0.4, 0.6])])], ["pad:a1+"]); // 0.4 is inside the dead zone
  assert.deepEqual([...padKeys(mapping, [null, pad([3], [0, 0])])], ["pad:b3"]); // an empty slot is skipped
  // A stick held near the threshold does not flicker: pressed at 0.5, let go only below 0.4.
  const held = new Set(["pad:a1+"]);
  assert.deepEqual([...padKeys(mapping, [pad([], [0, 0.45])], held)], ["pad:a1+"]);
  assert.deepEqual([...padKeys(mapping, [pad([], [0, 0.45])])], []);
  assert.deepEqual([...padKeys(mapping, [pad([], [0, 0.35])], held)], []);
});

test("a gamepad is polled each animation frame and its presses and releases are sent once, then stop", () => {
  const frames = [];
  globalThis.requestAnimationFrame = (fn) => frames.push(fn);
  globalThis.cancelAnimationFrame = () => { frames.length = 0; };
  const button = { pressed: false };
  globalThis.navigator = { getGamepads: () => [{ buttons: [button], axes: [] }] };
  stopInput();
  sent = [];
  startInput([], (k, d) => sent.push([k, d]), { buttons: { 0: 1 }, axes: {} });
  const frame = () => frames.shift()();
  button.pressed = true;
  frame();
  frame();
  button.pressed = false;
  frame();
  assert.deepEqual(sent, [["pad:b0", true], ["pad:b0", false]]);
  button.pressed = true;
  frame();
  stopInput(); // a held button is released, the polling ends
  assert.deepEqual(sent.slice(2), [["pad:b0", true], ["pad:b0", false]]);
  assert.equal(frames.length, 0);
  delete globalThis.requestAnimationFrame;
  delete globalThis.cancelAnimationFrame;
});
