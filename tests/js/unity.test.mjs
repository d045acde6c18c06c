// Tests of what the participant's page takes from a Unity build's frame (gymkube/static/js/unity.js).
import { test } from "node:test";
import assert from "node:assert/strict";

globalThis.window = Object.assign(new EventTarget(), { innerHeight: 1000 });
const { readReport } = await import("../../gymkube/static/js/unity.js");

test("reports become entries; columns are kept only when named as the pod accepts, at most 32", () => {
  const columns = Object.fromEntries([...Array(40).keys()].map((i) => [`c${i}`, i]));
  const step = readReport({ gymkube: "unity", kind: "step", t: 5, data: { ...columns, "Bad Name": 1, __proto__: 2, x_1: [1, 2] } });
  assert.equal(step.kind, "step");
  assert.equal(step.t, 5);
  assert.equal(Object.keys(step.c).length, 32);
  assert.ok(!("Bad Name" in step.c));
  assert.deepEqual(readReport({ gymkube: "unity", kind: "end", t: 6, data: { status: "won", score: Infinity, info: { rounds: 3 } } }),
    { kind: "end", t: 6, status: "terminated", info: { rounds: 3 } });
  assert.deepEqual(readReport({ gymkube: "unity", kind: "end", t: 6, data: { status: "truncated", score: 2.5 } }),
    { kind: "end", t: 6, status: "truncated", score: 2.5 });
  assert.deepEqual(readReport({ gymkube: "unity", kind: "done", t: 7 }), { kind: "done", t: 7 });
});

test("anything else from a frame is not a report", () => {
  for (const message of [null, "step", { kind: "step" }, { gymkube: "page", kind: "step" }, { gymkube: "unity", kind: "launch" }]) {
    assert.equal(readReport(message), null);
  }
  const stamped = readReport({ gymkube: "unity", kind: "start", t: "soon", data: [1, 2] });
  assert.ok(Number.isFinite(stamped.t) && stamped.t > 1e12, "a report without a usable time gets the page's");
  assert.deepEqual(stamped.info, {});
  // A build that posts to the page itself with numbers the pod would refuse costs no other entry of its batch.
  const wild = readReport({ gymkube: "unity", kind: "end", t: 1e300, data: { score: -1e16 } });
  assert.ok(wild.t > 1e12 && wild.t < 1e15 && !("score" in wild), JSON.stringify(wild));
});
