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
