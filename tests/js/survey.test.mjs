// Tests for the DOM-free survey validation in static/js/survey.js.
import { test } from "node:test";
import assert from "node:assert/strict";
import { validateAnswers, labelPositions } from "../../gymkube/static/js/survey.js";

const q = (id, type, extra = {}) => ({ id, type, prompt: id, required: true, options: null, points: 7, labels: null,
  min: null, max: null, integer: false, maxLength: 1000, multiline: false, ...extra });

test("well-formed answers become typed values", () => {
  const questions = [
    q("lik", "likert", { points: 5 }),
    q("one", "single", { options: ["yes", "no"] }),
    q("many", "multiple", { options: ["a", "b", "c"] }),
    q("txt", "text"),
    q("num", "number", { min: 0, max: 10 }),
  ];
  const raw = { lik: "4", one: "no", many: ["a", "c"], txt: " hello ", num: "2.5" };
  const { answers, errors } = validateAnswers(questions, raw);
  assert.deepEqual(errors, {});
  assert.deepEqual(answers, { lik: 4, one: "no", many: ["a", "c"], txt: " hello ", num: 2.5 });
});

test("required questions need an answer; optional ones are omitted when blank", () => {
  const questions = [
    q("lik", "likert"), q("one", "single", { options: ["x", "y"] }), q("many", "multiple", { options: ["x", "y"] }),
    q("txt", "text"), q("num", "number"),
  ];
  const blank = { lik: undefined, one: undefined, many: [], txt: "   ", num: "" };
  const required = validateAnswers(questions, blank);
  assert.deepEqual(Object.keys(required.errors).sort(), ["lik", "many", "num", "one", "txt"]);
  assert.deepEqual(required.answers, {});
  const optional = validateAnswers(questions.map((x) => ({ ...x, required: false })), blank);
  assert.deepEqual(optional, { answers: {}, errors: {} });
});

test("numbers: ranges, integers and unparseable input", () => {
  const check = (extra, value) => validateAnswers([q("n", "number", extra)], { n: value });
  assert.match(check({ min: 1, max: 5 }, "6").errors.n, /from 1 to 5/);
  assert.match(check({ min: 1 }, "0").errors.n, /at least 1/);
  assert.match(check({ max: 3 }, "3.5").errors.n, /at most 3/);
  assert.match(check({ integer: true }, "2.5").errors.n, /whole number/);
  assert.match(check({}, "abc").errors.n, /enter a number/);
  assert.match(check({ required: false }, null).errors.n, /enter a number/); // the browser's badInput
  assert.deepEqual(check({ integer: true, min: -3 }, "-3").answers, { n: -3 });
  assert.deepEqual(check({ min: 0, max: 0 }, "0").answers, { n: 0 });
});

test("likert values stay on the scale; choices must be offered options", () => {
  assert.ok(validateAnswers([q("l", "likert", { points: 5 })], { l: "6" }).errors.l);
  assert.ok(validateAnswers([q("l", "likert", { points: 5 })], { l: "2.5" }).errors.l);
  assert.ok(validateAnswers([q("s", "single", { options: ["a", "b"] })], { s: "c" }).errors.s);
  assert.ok(validateAnswers([q("m", "multiple", { options: ["a", "b"] })], { m: ["a", "z"] }).errors.m);
});

test("text length is limited to maxLength", () => {
  assert.match(validateAnswers([q("t", "text", { maxLength: 3 })], { t: "abcd" }).errors.t, /at most 3/);
  assert.deepEqual(validateAnswers([q("t", "text", { maxLength: 3 })], { t: "abc" }).answers, { t: "abc" });
});

test("likert labels are spread over the ends and the middle", () => {
  assert.deepEqual(labelPositions(7, 2), [0, 6]);
  assert.deepEqual(labelPositions(7, 3), [0, 3, 6]);
  assert.deepEqual(labelPositions(5, 5), [0, 1, 2, 3, 4]);
  assert.deepEqual(labelPositions(5, 0), []);
});
