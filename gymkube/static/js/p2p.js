// Peer-to-peer links of a p2p game: one WebRTC DataChannel per pair of peers (unordered, no retransmits), signalled
// through the pod; a peer whose channel is not open within the timeout is reached through the pod's relay instead.
// A path that breaks mid-game goes through the pod's relay at once while it is mended (p2ppath.js).
import { pathChanged, broken, reroute } from "./p2ppath.js";

const RESTART_AFTER_MS = 3000; // a hello from a peer whose link is older than this (or was open) means a reload
const MEND_AFTER_MS = 6000; // an ICE restart not connected by then gives way to the next step
// Peers send every tick: a channel silent this long may be a broken path that ICE has not noticed yet (that takes it
// seconds), so packets go through the pod as well until the peer is heard again (duplicates are harmless).
const QUIET_MS = 1000;

/**
 * `me` and `peers` are agent ids (`peers` includes `me`, in seat order: the earlier seat makes the offer).
 * `io` = {signal(to, d), relay(to, text)}; `on` = {packet(from, text), transport(peer, via, address), note(peer,
 * kind, detail)} with via "direct" | "turn" | "relay". `ice` is an RTCConfiguration.
 */
export class Mesh {
  constructor({ me, peers, ice, timeoutMs, io, on, mendAfterMs = MEND_AFTER_MS }) {
    Object.assign(this, { me, ice, timeoutMs, io, on, mendAfterMs });
    this.links = new Map(); // peer -> {pc, dc, pending candidates, via}
    this.others = peers.filter((p) => p !== me);
    this.offerer = (peer) => peers.indexOf(me) < peers.indexOf(peer);
    this.closed = false;
  }

  /** Starts a link to every other peer; each falls back to the relay after the timeout. */
  start() {
    for (const peer of this.others) {
      this.io.signal(peer, { hello: true }); // a peer that knew this page before (a reload) starts over
      this.connect(peer);
    }
  }

  connect(peer) {
    const link = this.link(peer);
    link.timer = setTimeout(() => { if (link.via !== "direct" && link.via !== "turn") this.use(peer, "relay"); }, this.timeoutMs);
    if (this.offerer(peer)) this.offer(peer, link);
  }

  /** A new connection to `peer` (its path could not be mended): the peer drops its old one as after a reload. */
  renew(peer) {
    if (this.closed || !this.links.has(peer)) return;
    this.io.signal(peer, { hello: true });
    this.restart(peer);
  }

  // The peer's page is new (reloaded), or its path could not be mended: drop the old connection and make a new one.
  restart(peer) {
    const old = this.links.get(peer);
    if (!old || (!old.opened && performance.now() - old.created < RESTART_AFTER_MS)) return;
    this.links.delete(peer);
    clearTimeout(old.timer);
    clearTimeout(old.mendTimer);
    try { old.dc?.close(); old.pc.close(); } catch { /* already closed */ }
    this.connect(peer);
    this.use(peer, "relay"); // until the new channel opens
  }

  link(peer) {
    if (this.links.has(peer)) return this.links.get(peer);
    const pc = new RTCPeerConnection(this.ice);
    const link = { pc, dc: null, candidates: [], via: null, timer: 0, opened: false, created: performance.now() };
    this.links.set(peer, link);
    pc.onicecandidate = (e) => { if (e.candidate) this.io.signal(peer, { candidate: e.candidate.toJSON() }); };
    pc.ondatachannel = (e) => this.channel(peer, link, e.channel);
    pc.oniceconnectionstatechange = () => pathChanged(this, peer, link);
    return link;
  }

  async offer(peer, link) {
    this.channel(peer, link, link.pc.createDataChannel("game", { ordered: false, maxRetransmits: 0 }));
    await link.pc.setLocalDescription(await link.pc.createOffer());
    this.io.signal(peer, { sdp: link.pc.localDescription.toJSON() });
  }

  channel(peer, link, dc) {
    link.dc = dc;
    dc.onopen = () => this.opened(peer, link);
    dc.onmessage = (e) => {
      link.heard = performance.now();
      if (typeof e.data === "string") this.on.packet(peer, e.data);
    };
    dc.onclose = () => { if (!this.closed && link.via !== "relay") this.use(peer, "relay"); };
  }

  async opened(peer, link) {
    link.opened = true;
    link.heard = performance.now();
    await reroute(this, peer, link);
  }

  use(peer, via, address = null) {
    const link = this.links.get(peer);
    if (!link || link.via === via || this.closed) return;
    Object.assign(link, { via, address });
    this.on.transport(peer, via, address);
  }

  /** A signalling message from `from` (an SDP description or an ICE candidate). */
  async signal(from, d) {
    if (this.closed || !this.others.includes(from) || !d) return;
    if (d.hello) { this.restart(from); return; }
    if (d.restart) { // the answerer saw the path break: restart from here (unless already mending)
      const open = this.links.get(from);
      if (open && this.offerer(from)) broken(this, from, open);
      return;
    }
    const link = this.link(from);
    const { pc } = link;
    if (d.sdp) {
      await pc.setRemoteDescription(d.sdp);
      for (const c of link.candidates.splice(0)) await pc.addIceCandidate(c).catch(() => {});
      if (d.sdp.type === "offer") {
        await pc.setLocalDescription(await pc.createAnswer());
        this.io.signal(from, { sdp: pc.localDescription.toJSON() });
      }
    } else if (d.candidate) {
      if (pc.remoteDescription) await pc.addIceCandidate(d.candidate).catch(() => {});
      else link.candidates.push(d.candidate);
    }
  }

  /** A packet for `to`: over its DataChannel when open, else through the pod. */
  send(to, text) {
    const delay = globalThis.gymkubeDebug?.sendDelayMs || 0; // tests: an added one-way delay on this peer
    if (delay > 0) setTimeout(() => this.deliver(to, text), delay);
    else this.deliver(to, text);
  }

  deliver(to, text) {
    if (this.closed) return;
    const link = this.links.get(to);
    if (link?.dc?.readyState === "open" && link.via !== "relay") {
      try {
        link.dc.send(text);
        if (performance.now() - link.heard > QUIET_MS) this.io.relay(to, text);
        return;
      } catch { /* fall through to the relay */ }
    }
    if (link?.via === "relay" || !link?.dc || link.dc.readyState !== "open") this.io.relay(to, text);
  }

  /** How each peer is reached now: {peer: via}. */
  transports() {
    return Object.fromEntries([...this.links].map(([peer, link]) => [peer, [link.via, link.address]]));
  }

  /** Closes every connection (relay ports of a TURN server are freed at once). */
  close() {
    this.closed = true;
    for (const link of this.links.values()) {
      clearTimeout(link.timer);
      clearTimeout(link.mendTimer);
      try { link.dc?.close(); link.pc.close(); } catch { /* already closed */ }
    }
  }
}
