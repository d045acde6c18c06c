// Tests for the DOM-free parts of the dashboard's page (gymkube/static/admin/js): bucket labels, durations, endings.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fps, ms, plain } from "../../gymkube/static/admin/js/charts.js";
import { duration, number } from "../../gymkube/static/admin/js/dom.js";
import { endingName } from "../../gymkube/static/admin/js/overview.js";

test("latency buckets in seconds are labelled in ms, the last one open", () => {
  assert.equal(ms(null, 0.0005), "≤0.5");
  assert.equal(ms(0.02, 0.0333), "≤33");
  assert.equal(ms(1.0, null), ">1000");
});

test("frame intervals are labelled as the frame rates they reach", () => {
  assert.equal(fps(null, 1 / 120), "≥120");
  assert.equal(fps(1 / 60, 1 / 50), "≥50");
  assert.equal(fps(1.0, null), "<1");
});

test("plain buckets keep their numbers", () => {
  assert.equal(plain(null, 25), "≤25");
  assert.equal(plain(1000, null), ">1000");
});

test("durations read in seconds, minutes or hours; counts with separators", () => {
  assert.equal(duration(4.4), "4 s");
  assert.equal(duration(125), "2 min 5 s");
  assert.equal(duration(7322), "2 h 2 min");
  assert.equal(duration(-3), "0 s");
  assert.equal(duration(null), "");
  assert.equal(number(null), "");
  assert.equal(number(10000).replace(/\D/g, ""), "10000");
});

test("endings read in words; an unknown one as it is", () => {
  assert.equal(endingName("dropped"), "away too long");
  assert.equal(endingName("technical"), "technical problem");
  assert.equal(endingName("made_up"), "made_up");
});
