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
  constructor(config) {
    this.config = config; this.closed = false; this.iceConnectionState = "new"; this.restarts = [];
    FakeConnection.made.push(this);
  }
  ice(state) { this.iceConnectionState = state; this.oniceconnectionstatechange?.(); }
  restartIce() { this.restarts.push(this.config.iceTransportPolicy ?? "all"); }
  setConfiguration(config) { this.config = config; }
  createDataChannel() { this.channel = new FakeChannel(); return this.channel; }
  async createOffer(options) { return { type: "offer", sdp: options?.iceRestart ? "restart" : "offer" }; }
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
function pair(timeoutMs = 5000, ice = { iceServers: [] }, mendAfterMs = 6000) {
  const meshes = {};
  const log = { relayed: [], packets: [], transports: [], notes: [] };
  for (const me of ["left", "right"]) {
    meshes[me] = new Mesh({
      me, peers: ["left", "right"], ice, timeoutMs, mendAfterMs,
      io: {
        signal: (to, d) => queueMicrotask(() => meshes[to].signal(me, d)),
        relay: (to, text) => log.relayed.push([me, to, text]),
      },
      on: {
        packet: (from, text) => log.packets.push([from, text]),
        transport: (peer, via, address) => log.transports.push([me, peer, via, address]),
        note: (peer, kind, detail) => log.notes.push([me, kind, detail]),
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

/** Two meshes whose channel is open (over TURN when `ice` says relay). */
async function connected(ice, mendAfterMs) {
  const made = pair(5000, ice, mendAfterMs);
  made.meshes.left.start();
  made.meshes.right.start();
  await tick(10);
  made.meshes.right.links.get("left").pc.ondatachannel({ channel: new FakeChannel() });
  made.meshes.left.links.get("right").dc.open();
  made.meshes.right.links.get("left").dc.open();
  await tick(10);
  return made;
}

const TURN = { iceServers: [{ urls: ["turn:127.0.0.1:3478?transport=udp"], username: "u", credential: "c" }] };

test("a broken path goes through the pod at once, is restarted by the offerer and goes back to the channel", async () => {
  const { meshes, log } = await connected(TURN);
  const offerer = meshes.left.links.get("right");
  const answerer = meshes.right.links.get("left");
  answerer.pc.ice("disconnected"); // the answerer notices first: it asks the offerer to restart
  await tick(10);
  assert.deepEqual(log.transports.filter(([me]) => me === "right").map(([, , via]) => via), ["direct", "relay"]);
  assert.deepEqual(offerer.pc.restarts, ["all"]);
  assert.equal(offerer.pc.localDescription.sdp, "restart"); // the new offer went to the answerer
  assert.equal(answerer.pc.remoteDescription.sdp, "restart");
  meshes.right.send("left", "meanwhile");
  assert.deepEqual(log.relayed.map(([from, , text]) => [from, text]), [["right", "meanwhile"]]);
  offerer.pc.ice("connected");
  answerer.pc.ice("connected");
  await tick(10);
  for (const side of ["left", "right"]) {
    assert.deepEqual(log.transports.filter(([me]) => me === side).map(([, , via]) => via), ["direct", "relay", "direct"]);
  }
  meshes.right.send("left", "after");
  assert.deepEqual(answerer.dc.sent, ["after"]);
  assert.deepEqual(log.notes.filter(([me]) => me === "left").map(([, kind]) => kind), ["ice_restart", "path_mended"]);
  meshes.left.close();
  meshes.right.close();
});

test("a path that restarts do not mend gets a TURN-only restart, then a new connection", async () => {
  const { meshes, log } = await connected(TURN, 20);
  const offerer = meshes.left.links.get("right");
  offerer.pc.ice("failed");
  await tick(100);
  assert.deepEqual(offerer.pc.restarts, ["all", "relay"]);
  assert.equal(offerer.pc.config.iceTransportPolicy, "relay");
  assert.deepEqual(log.notes.filter(([me]) => me === "left").map(([, kind, d]) => [kind, d.candidates ?? d.state]),
    [["path_broken", "failed"], ["ice_restart", "all"], ["ice_restart", "relay"], ["ice_restart", "new_connection"]]);
  const fresh = meshes.left.links.get("right");
  assert.notEqual(fresh, offerer);
  assert.equal(offerer.pc.closed, true);
  assert.equal(meshes.right.links.get("left").pc.remoteDescription.sdp, "offer"); // right dropped its old one too
  meshes.left.send("right", "still");
  assert.deepEqual(log.relayed.map(([from, , text]) => [from, text]), [["left", "still"]]);
  meshes.left.close();
  meshes.right.close();
});

test("without a TURN server a broken path gets an ICE restart with every candidate, then a new connection", async () => {
  const { meshes, log } = await connected({ iceServers: [] }, 20);
  const offerer = meshes.left.links.get("right");
  offerer.pc.ice("failed");
  await tick(100);
  assert.deepEqual(offerer.pc.restarts, ["all", "all"]);
  assert.equal(log.notes.at(-1)[2].candidates, "new_connection");
  meshes.left.close();
  meshes.right.close();
});

test("a channel the peer has been silent on for a second also sends through the pod until it is heard again", async () => {
  const { meshes, log } = await connected({ iceServers: [] });
  const link = meshes.left.links.get("right");
  meshes.left.send("right", "fresh");
  link.heard -= 1500; // nothing from right for 1.5 s: maybe a broken path ICE has not noticed yet
  meshes.left.send("right", "quiet");
  link.dc.onmessage({ data: "hello again" });
  meshes.left.send("right", "heard");
  assert.deepEqual(link.dc.sent, ["fresh", "quiet", "heard"]);
  assert.deepEqual(log.relayed.map(([, , text]) => text), ["quiet"]);
  meshes.left.close();
  meshes.right.close();
});
