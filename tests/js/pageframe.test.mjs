// Tests for the checks static/js/pageframe.js applies to what a researcher's page (in its frame) says.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cleanValues, readMessage, MAX_HEIGHT_PX } from "../../gymkube/static/js/pageframe.js";
import { PAGE_LIMITS } from "../../gymkube/static/js/protocol.js";

const state = (extra = {}) => ({ gymkube: "page", type: "state", values: {}, continue: true, height: 120, ...extra });

test("a well-formed state keeps every value a page can record", () => {
  const values = { consent: true, age: 34, name: "Ada", hobbies: ["chess", "go"], unset: null };
  const msg = readMessage(state({ values, continue: false, seq: 3 }));
  assert.deepEqual(msg, { type: "state", values, dropped: 0, continue: false, height: 120, seq: 3 });
});

test("messages of the wrong shape or type are ignored whole", () => {
  for (const data of [
    null, "state", 42, [state()], { ...state(), gymkube: "other" }, { ...state(), type: "collect" },
    state({ continue: "yes" }), state({ height: "tall" }), state({ values: "nope" }), state({ values: [1, 2] }),
    state({ values: new Map() }), { gymkube: "page", type: "violation", directive: 7 },
  ]) {
    assert.equal(readMessage(data), null, JSON.stringify(data));
  }
});

test("values that cannot be recorded are dropped and counted, the rest kept", () => {
  const long = "x".repeat(PAGE_LIMITS.textChars + 1);
  const { values, dropped } = cleanValues({
    ok: "fine", tooLong: long, infinite: Infinity, notANumber: NaN, nested: { a: 1 }, fn: undefined,
    listOfNumbers: [1, 2], tooManyItems: Array(PAGE_LIMITS.listItems + 1).fill("a"), "": "no name",
    ["n".repeat(PAGE_LIMITS.nameChars + 1)]: "name too long", "bad\nname": "control character",
  });
  assert.deepEqual(values, { ok: "fine" });
  assert.equal(dropped, 10);
});

test("10,000 fields: only the first PAGE_LIMITS.fields names are looked at", () => {
  const many = Object.fromEntries(Array.from({ length: 10000 }, (_, i) => [`f${i}`, i]));
  const { values, dropped } = cleanValues(many);
  assert.equal(Object.keys(values).length, PAGE_LIMITS.fields);
  assert.equal(values.f0, 0);
  assert.ok(dropped > 0);
});

test("a 10 MB value is dropped, and all values together stay within answerBytes", () => {
  assert.deepEqual(cleanValues({ huge: "x".repeat(10 * 1024 * 1024) }).values, {});
  const nearlyFull = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`t${i}`, "é".repeat(PAGE_LIMITS.textChars)]));
  const { values, dropped } = cleanValues(nearlyFull);
  const bytes = new TextEncoder().encode(JSON.stringify(values)).length;
  assert.ok(bytes <= PAGE_LIMITS.answerBytes, `${bytes} bytes`);
  assert.ok(Object.keys(values).length >= 1 && dropped >= 1);
});

test("a field named __proto__ is only a name", () => {
  const raw = JSON.parse('{"__proto__": "sneaky", "ok": 1}');
  const { values } = cleanValues(raw);
  assert.equal(Object.getPrototypeOf(values), Object.prototype);
  assert.equal(Object.hasOwn(values, "__proto__") && values.__proto__, "sneaky"); // eslint-disable-line no-proto
  assert.equal(values.ok, 1);
});

test("lone surrogates become well-formed text (the socket encodes UTF-8)", () => {
  const { values } = cleanValues({ text: "a\uD800b", list: ["\uDC00"] });
  assert.deepEqual(values, { text: "a\uFFFDb", list: ["\uFFFD"] });
});

test("heights are clamped; a sequence number is kept only when it is an integer", () => {
  assert.equal(readMessage(state({ height: 1e12 })).height, MAX_HEIGHT_PX);
  assert.equal(readMessage(state({ height: -5 })).height, 0);
  assert.equal(readMessage(state({ height: NaN })).height, 0);
  assert.equal(readMessage(state({ seq: 1.5 })).seq, null);
});

test("a CSP violation the page reports becomes bounded text", () => {
  const msg = readMessage({ gymkube: "page", type: "violation", directive: "connect-src", blocked: "y".repeat(10000) });
  assert.equal(msg.type, "violation");
  assert.ok(msg.text.startsWith("connect-src blocked y") && msg.text.length < 300);
});
