// Peer probes in a p2p scene's waiting room: the pod asks this page to measure its round trip to another waiting
// browser (never named: a probe has a random id) over a short WebRTC DataChannel, exactly as a game would connect
// (TURN when needed); the median is reported back, and the connection closed.
import { route } from "./p2ppath.js";

const MAX_PROBES = 4; // the pod asks for two at a time; a page never holds more connections than this
const MAX_EARLY = 64; // signalling that came before its probe's connection was made (held at most this many)
const LINGER_MS = 2000; // after its report a side still echoes, so the other side can finish its own samples

/**
 * `io` = {turn() -> Promise<{urls, username, credential}>, signal(id, d), result({id, rtt, n, via})}.
 * `sendDelayMs()` is an added one-way delay on what this page sends (tests; 0 otherwise).
 */
export class Probes {
  constructor(io, sendDelayMs = () => 0) {
    this.io = io;
    this.sendDelayMs = sendDelayMs;
    this.live = new Map(); // id -> probe
    this.early = []; // [id, d] for probes not started yet
  }

  /** The pod's `probe` message: start a probe, or stop one. */
  handle(msg) {
    const id = msg?.id;
    if (typeof id !== "string") return;
    if (msg.stop) { this.close(id); return; }
    if (this.live.has(id) || this.live.size >= MAX_PROBES) return;
    const probe = {
      id, offer: msg.role === "offer", samples: Math.max(1, Math.min(Number(msg.samples) || 5, 50)),
      everyMs: Math.max(20, Number(msg.everyMs) || 150), pc: null, dc: null, candidates: [], sent: new Map(),
      rtts: [], timer: 0, pinger: 0, via: null, reported: false, done: false,
    };
    this.live.set(id, probe);
    probe.timer = setTimeout(() => this.report(probe), Math.max(500, Number(msg.timeoutMs) || 9500));
    this.open(probe).catch(() => this.report(probe));
  }

  async open(probe) {
    const turn = await this.io.turn();
    if (probe.done) return;
    const iceServers = turn?.urls?.length ? [{ urls: turn.urls, username: turn.username, credential: turn.credential }] : [];
    const pc = new RTCPeerConnection({ iceServers });
    probe.pc = pc;
    pc.onicecandidate = (e) => { if (e.candidate) this.io.signal(probe.id, { candidate: e.candidate.toJSON() }); };
    pc.ondatachannel = (e) => this.channel(probe, e.channel);
    if (probe.offer) {
      this.channel(probe, pc.createDataChannel("probe", { ordered: false, maxRetransmits: 0 }));
      await pc.setLocalDescription(await pc.createOffer());
      this.io.signal(probe.id, { sdp: pc.localDescription.toJSON() });
    }
    const early = this.early.filter(([id]) => id === probe.id);
    this.early = this.early.filter(([id]) => id !== probe.id);
    for (const [, d] of early) await this.signal(probe.id, d);
  }

  channel(probe, dc) {
    probe.dc = dc;
    dc.onopen = async () => {
      probe.via = (await route(probe.pc, () => probe.done)).via;
      this.ping(probe);
    };
    dc.onmessage = (e) => this.message(probe, e.data);
    dc.onclose = () => this.report(probe); // the other side is done: what was measured is all there is
  }

  // Both sides ping (the pod takes the larger of the two medians); each echoes the other's pings at once.
  ping(probe) {
    let seq = 0;
    const next = () => {
      if (probe.reported || seq >= probe.samples * 2) return; // a lost ping (no retransmits) leaves room for more
      seq += 1;
      probe.sent.set(seq, performance.now());
      this.send(probe, JSON.stringify({ p: seq }));
      probe.pinger = setTimeout(next, probe.everyMs);
    };
    next();
  }

  message(probe, text) {
    if (probe.done || typeof text !== "string" || text.length > 100) return;
    let packet;
    try { packet = JSON.parse(text); } catch { return; }
    if (Number.isInteger(packet?.p)) this.send(probe, JSON.stringify({ q: packet.p }));
    const sentAt = Number.isInteger(packet?.q) ? probe.sent.get(packet.q) : undefined;
    if (sentAt === undefined || probe.reported) return;
    probe.sent.delete(packet.q);
    probe.rtts.push(performance.now() - sentAt);
    if (probe.rtts.length >= probe.samples) this.report(probe);
  }

  send(probe, text) {
    const deliver = () => { try { if (probe.dc?.readyState === "open") probe.dc.send(text); } catch { /* closed */ } };
    const delay = this.sendDelayMs();
    if (delay > 0) setTimeout(deliver, delay);
    else deliver();
  }

  /** The probe's signalling from the other side (an SDP description or an ICE candidate). */
  async signal(id, d) {
    const probe = this.live.get(id);
    if (!probe?.pc) { // its `probe` message, or its TURN credentials, are still to come: taken in open()
      if (this.early.length < MAX_EARLY) this.early.push([id, d]);
      return;
    }
    const { pc } = probe;
    try {
      if (d?.sdp) {
        await pc.setRemoteDescription(d.sdp);
        for (const c of probe.candidates.splice(0)) await pc.addIceCandidate(c).catch(() => {});
        if (d.sdp.type === "offer") {
          await pc.setLocalDescription(await pc.createAnswer());
          this.io.signal(id, { sdp: pc.localDescription.toJSON() });
        }
      } else if (d?.candidate) {
        if (pc.remoteDescription) await pc.addIceCandidate(d.candidate).catch(() => {});
        else probe.candidates.push(d.candidate);
      }
    } catch { /* a bad description: the probe times out and reports no path */ }
  }

  // What was measured (nothing: no path came up), once; the connection is closed a little later.
  report(probe) {
    if (probe.reported || probe.done) return;
    probe.reported = true;
    clearTimeout(probe.pinger);
    const sorted = [...probe.rtts].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    const median = sorted.length ? (sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2) : null;
    this.io.result({ id: probe.id, rtt: median === null ? null : Math.round(median * 100) / 100,
      n: sorted.length, via: median === null ? null : probe.via });
    clearTimeout(probe.timer);
    probe.timer = setTimeout(() => this.close(probe.id), probe.dc?.readyState === "open" ? LINGER_MS : 0);
  }

  /** Ends a probe without a report (the pod said stop), or after it (its TURN relay is freed at once). */
  close(id) {
    const probe = this.live.get(id);
    this.early = this.early.filter(([early]) => early !== id);
    if (!probe) return;
    probe.done = true;
    probe.reported = true;
    this.live.delete(id);
    clearTimeout(probe.timer);
    clearTimeout(probe.pinger);
    if (probe.dc) probe.dc.onclose = null;
    try { probe.dc?.close(); probe.pc?.close(); } catch { /* already closed */ }
  }

  /** Every probe ends (the game starts, or the scene changes). */
  closeAll() {
    for (const id of [...this.live.keys()]) this.close(id);
    this.early = [];
  }
}
