// Tests for gymkube/static/js/p2p.js with a stand-in RTCPeerConnection: who offers, signalling, the relay fallback
// after the timeout, and starting over when a peer's page was reloaded.
import { test } from "node:test";
import assert from "node:assert/strict";

class FakeChannel {
  constructor() { this.readyState = "connecting"; this.sent = []; }
  send(text) { this.sent.push(text); }
  open() { this.readyState = "open"; this.onopen?.(); }
  close() { this.readyState = "closed"; this.onclose?.(); }
}

class FakeConnection {
  static made = [];
  constructor(config) { this.config = config; this.closed = false; FakeConnection.made.push(this); }
  createDataChannel() { this.channel = new FakeChannel(); return this.channel; }
  async createOffer() { return { type: "offer", sdp: "offer" }; }
  async createAnswer() { return { type: "answer", sdp: "answer" }; }
  async setLocalDescription(d) { this.localDescription = { ...d, toJSON: () => ({ type: d.type, sdp: d.sdp }) }; }
  async setRemoteDescription(d) { this.remoteDescription = d; }
  async addIceCandidate() {}
  async getStats() {
    const relay = this.config.iceTransportPolicy === "relay";
    return new Map([
      ["t", { type: "transport", selectedCandidatePairId: "p" }],
      ["p", { type: "candidate-pair", localCandidateId: "l", remoteCandidateId: "r" }],
      ["l", { candidateType: relay ? "relay" : "host", address: "127.0.0.1" }],
      ["r", { address: "127.0.0.1" }],
    ]);
  }
  close() { this.closed = true; }
}
globalThis.RTCPeerConnection = FakeConnection;
globalThis.performance ??= { now: () => Date.now() };
const { Mesh } = await import("../../gymkube/static/js/p2p.js");

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

/** Two meshes whose signalling goes straight to each other; relay packets are collected. */
function pair(timeoutMs = 5000, ice = { iceServers: [] }) {
  const meshes = {};
  const log = { relayed: [], packets: [], transports: [] };
  for (const me of ["left", "right"]) {
    meshes[me] = new Mesh({
      me, peers: ["left", "right"], ice, timeoutMs,
      io: {
        signal: (to, d) => queueMicrotask(() => meshes[to].signal(me, d)),
        relay: (to, text) => log.relayed.push([me, to, text]),
      },
      on: {
        packet: (from, text) => log.packets.push([from, text]),
        transport: (peer, via, address) => log.transports.push([me, peer, via, address]),
      },
    });
  }
  return { meshes, log };
}

test("the earlier seat offers, the other answers, and once the channel opens packets go over it", async () => {
  FakeConnection.made = [];
  const { meshes, log } = pair();
  meshes.left.start();
  meshes.right.start();
  await tick(10);
  const offerer = meshes.left.links.get("right");
  const answerer = meshes.right.links.get("left");
  assert.equal(offerer.pc.remoteDescription.type, "answer");
  assert.equal(answerer.pc.remoteDescription.type, "offer");
  assert.equal(answerer.dc, null); // the answerer gets its channel from the offerer
  answerer.pc.ondatachannel({ channel: new FakeChannel() });
  offerer.dc.open();
  answerer.dc.open();
  await tick(10);
  assert.deepEqual(log.transports.map(([me, , via, address]) => [me, via, address]),
    [["left", "direct", "127.0.0.1 > 127.0.0.1"], ["right", "direct", "127.0.0.1 > 127.0.0.1"]]);
  meshes.left.send("right", "inputs");
  assert.deepEqual(offerer.dc.sent, ["inputs"]);
  assert.deepEqual(log.relayed, []);
  meshes.left.close();
  meshes.right.close();
});

test("a TURN path is reported as turn", async () => {
  const { meshes, log } = pair(5000, { iceServers: [], iceTransportPolicy: "relay" });
  meshes.left.start();
  meshes.right.start();
  await tick(10);
  meshes.right.links.get("left").pc.ondatachannel({ channel: new FakeChannel() });
  meshes.left.links.get("right").dc.open();
  await tick(10);
  assert.deepEqual(log.transports.map(([, , via]) => via), ["turn"]);
  meshes.left.close();
  meshes.right.close();
});

test("without an open channel within the timeout, packets go through the pod", async () => {
  const { meshes, log } = pair(30);
  meshes.left.start();
  meshes.right.start();
  meshes.left.send("right", "early"); // before the timeout: nothing open yet, the relay carries it
  await tick(60);
  assert.deepEqual(log.transports.map(([me, peer, via]) => [me, peer, via]), [["left", "right", "relay"], ["right", "left", "relay"]]);
  meshes.right.send("left", "late");
  assert.deepEqual(log.relayed.map(([from, to, text]) => [from, to, text]), [["left", "right", "early"], ["right", "left", "late"]]);
  meshes.left.close();
  meshes.right.close();
});

test("a hello from a reloaded peer drops the old connection and makes a new one", async () => {
  FakeConnection.made = [];
  const { meshes, log } = pair();
  meshes.left.start();
  meshes.right.start();
  await tick(10);
  const old = meshes.left.links.get("right");
  old.dc.open();
  await tick(10);
  meshes.left.signal("right", { hello: true }); // right's page was reloaded
  await tick(10);
  const fresh = meshes.left.links.get("right");
  assert.notEqual(fresh, old);
  assert.equal(old.pc.closed, true);
  assert.equal(fresh.pc.localDescription.type, "offer"); // left is the earlier seat: it offers again
  assert.deepEqual(log.transports.filter(([me]) => me === "left").map(([, , via]) => via), ["direct", "relay"]);
  meshes.left.close();
  meshes.right.close();
});

test("a hello while both are still connecting the first time changes nothing", async () => {
  const { meshes } = pair();
  meshes.left.start();
  const link = meshes.left.links.get("right");
  meshes.left.signal("right", { hello: true });
  await tick(5);
  assert.equal(meshes.left.links.get("right"), link);
  meshes.left.close();
  meshes.right.close();
});
