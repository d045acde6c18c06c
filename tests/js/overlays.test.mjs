// Tests for the DOM-free text of gymkube/static/js/overlays.js: the waiting room's lines and the role line.
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatWait, waitingText, describePlayers } from "../../gymkube/static/js/overlays.js";

test("waiting times read as m:ss, rounded up", () => {
  assert.equal(formatWait(105), "1:45");
  assert.equal(formatWait(104.2), "1:45");
  assert.equal(formatWait(9), "0:09");
  assert.equal(formatWait(0), "0:00");
  assert.equal(formatWait(-3), "0:00");
  assert.equal(formatWait(undefined), "0:00");
  assert.equal(formatWait(3600), "60:00");
});

test("the waiting room says how many are missing, how many are here and the longest wait", () => {
  assert.deepEqual(waitingText({ have: 2, size: 3, remaining: 105, gate: null }),
    ["Waiting for 1 more participant…", "2 of 3 here", "up to 1:45"]);
  assert.deepEqual(waitingText({ have: 1, size: 3, remaining: 59.1, gate: null }),
    ["Waiting for 2 more participants…", "1 of 3 here", "up to 1:00"]);
});

test("a full room, a spent wait and a single seat leave out what does not apply", () => {
  assert.deepEqual(waitingText({ have: 3, size: 3, remaining: 10, gate: null }),
    ["Everyone is here — starting soon…", "3 of 3 here", "up to 0:10"]);
  assert.deepEqual(waitingText({ have: 1, size: 2, remaining: 0, gate: null }),
    ["Waiting for 1 more participant…", "1 of 2 here"]);
  assert.deepEqual(waitingText({ have: 1, size: 2, remaining: -1.5, gate: null }),
    ["Waiting for 1 more participant…", "1 of 2 here"]);
});

test("held back by the latency gate: the connection check comes first", () => {
  assert.deepEqual(waitingText({ have: 1, size: 2, remaining: 30, gate: "latency" }),
    ["Checking your connection…", "1 of 2 here", "up to 0:30"]);
});

const players = [
  { agent: "blue", label: "Blue", color: "#1f5fbf", kind: "human", you: true },
  { agent: "red", label: "Red", color: "#c0392b", kind: "ai", you: false },
];

test("the role names the own player and the partners, AI partners marked", () => {
  assert.deepEqual(describePlayers(players, "blue"),
    { agent: "blue", name: "Blue", color: "#1f5fbf", partners: "with Red (AI partner)" });
  const three = [...players, { agent: "green", label: null, color: null, kind: "human", you: false }];
  assert.equal(describePlayers(three, "blue").partners, "with Red (AI partner) and green");
  const four = [...three, { agent: "gold", label: "Gold", kind: "human" }];
  assert.equal(describePlayers(four, "blue").partners, "with Red (AI partner), green and Gold");
});

test("an AI partner whose label already says so is not marked twice", () => {
  const labelled = [players[0], { ...players[1], label: "AI partner" }];
  assert.equal(describePlayers(labelled, "blue").partners, "with AI partner");
  const brain = [players[0], { ...players[1], label: "Brainy" }]; // "AI" inside a word does not count
  assert.equal(describePlayers(brain, "blue").partners, "with Brainy (AI partner)");
});

test("the role falls back to the agent id: for the name, and to find oneself without `you`", () => {
  const unlabelled = players.map(({ you, label, ...p }) => p);
  assert.deepEqual(describePlayers(unlabelled, "red"),
    { agent: "red", name: "red", color: "#c0392b", partners: "with blue" });
});

test("no role when playing alone or when the own agent is missing", () => {
  assert.equal(describePlayers([players[0]], "blue"), null);
  assert.equal(describePlayers(undefined, "blue"), null);
  assert.equal(describePlayers(players.map((p) => ({ ...p, you: false })), "nobody"), null);
});
