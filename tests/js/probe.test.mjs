// Tests for gymkube/static/js/probe.js with a stand-in RTCPeerConnection whose channels talk to each other:
// both sides measure and report a median, an added send delay shows, a stopped or pathless probe, the limits.
import { test } from "node:test";
import assert from "node:assert/strict";

class FakeChannel {
  constructor() { this.readyState = "connecting"; this.peer = null; }
  send(text) {
    const peer = this.peer;
    setTimeout(() => { if (peer?.readyState === "open") peer.onmessage?.({ data: text }); }, 1);
  }
  open() { this.readyState = "open"; this.onopen?.(); }
  close() {
    if (this.readyState === "closed") return;
    this.readyState = "closed";
    this.onclose?.();
    this.peer?.close();
  }
}

let connections = 0;
const offers = new Map(); // sdp -> the offering connection
class FakeConnection {
  static made = [];
  static connectable = true;
  constructor(config) { this.config = config; this.closed = false; this.n = ++connections; FakeConnection.made.push(this); }
  createDataChannel() { this.channel = new FakeChannel(); return this.channel; }
  async createOffer() { return { type: "offer", sdp: `offer-${this.n}` }; }
  async createAnswer() { return { type: "answer", sdp: `answer-${this.n}` }; }
  async setLocalDescription(d) {
    this.localDescription = { ...d, toJSON: () => ({ type: d.type, sdp: d.sdp }) };
    if (d.type === "offer") offers.set(d.sdp, this);
  }
  async setRemoteDescription(d) {
    this.remoteDescription = d;
    if (d.type !== "offer" || !FakeConnection.connectable) return;
    const offerer = offers.get(d.sdp);
    const mine = new FakeChannel();
    mine.peer = offerer.channel;
    offerer.channel.peer = mine;
    this.ondatachannel({ channel: mine });
    setTimeout(() => { mine.open(); offerer.channel.open(); }, 2);
  }
  async addIceCandidate() {}
  async getStats() {
    return new Map([
      ["t", { type: "transport", selectedCandidatePairId: "p" }],
      ["p", { type: "candidate-pair", localCandidateId: "l", remoteCandidateId: "r" }],
      ["l", { candidateType: "host", address: "127.0.0.1" }],
      ["r", { address: "127.0.0.1" }],
    ]);
  }
  close() { this.closed = true; this.channel?.close(); }
}
globalThis.RTCPeerConnection = FakeConnection;
globalThis.performance ??= { now: () => Date.now() };
const { Probes } = await import("../../gymkube/static/js/probe.js");

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

/** Two pages whose probe signalling goes through a stand-in pod; their reports are collected. */
function pages(delays = { a: 0, b: 0 }) {
  const reports = [];
  const made = {};
  for (const [me, other] of [["a", "b"], ["b", "a"]]) {
    made[me] = new Probes({
      turn: async () => ({ urls: [] }),
      signal: (id, d) => setTimeout(() => made[other].signal(id, d), 1),
      result: (r) => reports.push([me, r]),
    }, () => delays[me]);
  }
  return { made, reports };
}

const ask = (role, extra = {}) => ({ id: "probe1", role, samples: 5, everyMs: 5, timeoutMs: 3000, ...extra });

test("both sides measure the round trip over the channel and report a median, then close", async () => {
  FakeConnection.made = [];
  const { made, reports } = pages();
  made.a.handle(ask("offer"));
  made.b.handle(ask("answer"));
  await tick(300);
  assert.deepEqual(reports.map(([who, r]) => [who, r.id, r.n, r.via]).sort(),
    [["a", "probe1", 5, "direct"], ["b", "probe1", 5, "direct"]]);
  assert.ok(reports.every(([, r]) => r.rtt >= 0 && r.rtt < 100));
  await tick(2100); // after lingering for the other side, the connections are closed
  assert.ok(FakeConnection.made.every((pc) => pc.closed));
  assert.equal(made.a.live.size + made.b.live.size, 0);
});

test("an added send delay on one page shows in both sides' round trips", async () => {
  const { made, reports } = pages({ a: 0, b: 60 });
  made.a.handle(ask("offer"));
  made.b.handle(ask("answer"));
  await tick(1200);
  assert.equal(reports.length, 2);
  assert.ok(reports.every(([, r]) => r.rtt >= 60 && r.rtt < 200), JSON.stringify(reports));
  made.a.closeAll();
  made.b.closeAll();
});

test("without a path the probe reports nothing measured at its timeout; a stopped one reports nothing", async () => {
  FakeConnection.connectable = false;
  try {
    const { made, reports } = pages();
    made.a.handle(ask("offer", { timeoutMs: 600 }));
    made.b.handle(ask("answer", { timeoutMs: 600 }));
    await tick(50);
    made.b.handle({ id: "probe1", stop: true });
    await tick(700);
    assert.deepEqual(reports, [["a", { id: "probe1", rtt: null, n: 0, via: null }]]);
  } finally {
    FakeConnection.connectable = true;
  }
});

test("a page runs at most four probes and holds a bounded number of early messages", async () => {
  const { made } = pages();
  for (let i = 0; i < 10; i++) made.a.handle(ask("answer", { id: `p${i}` }));
  assert.equal(made.a.live.size, 4);
  for (let i = 0; i < 500; i++) await made.a.signal(`unknown${i}`, { candidate: { candidate: "x" } });
  assert.ok(made.a.early.length <= 64);
  made.a.handle({ id: 42 }); // not a probe id: ignored
  made.a.closeAll();
  assert.equal(made.a.live.size, 0);
  assert.deepEqual(made.a.early, []);
});
