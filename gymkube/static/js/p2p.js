// Peer-to-peer links of a p2p game: one WebRTC DataChannel per pair of peers (unordered, no retransmits), signalled
// through the pod; a peer whose channel is not open within the timeout is reached through the pod's relay instead.

/**
 * `me` and `peers` are agent ids (`peers` includes `me`, in seat order: the earlier seat makes the offer).
 * `io` = {signal(to, d), relay(to, text)}; `on` = {packet(from, text), transport(peer, via)} with via
 * "direct" | "turn" | "relay". `ice` is an RTCConfiguration.
 */
const RESTART_AFTER_MS = 3000; // a hello from a peer whose link is older than this (or was open) means a reload

/**
 * How an open connection reaches its peer: {via: "direct" | "turn", address: "local > remote" | null}, from the
 * type of the local candidate of the pair in use (the stats may lag the open event a little: a few tries).
 */
export async function route(pc, stopped = () => false) {
  let via = "direct";
  let address = null;
  for (let attempt = 0; attempt < 10 && address === null && !stopped(); attempt++) {
    try {
      const stats = await pc.getStats();
      let pair = null;
      for (const s of stats.values()) {
        if (s.type === "transport" && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
      }
      for (const s of stats.values()) {
        if (!pair && s.type === "candidate-pair" && s.nominated && s.state === "succeeded") pair = s;
      }
      if (pair) {
        const local = stats.get(pair.localCandidateId);
        if (local?.candidateType === "relay") via = "turn";
        address = `${local?.address ?? "?"} > ${stats.get(pair.remoteCandidateId)?.address ?? "?"}`;
      }
    } catch { /* stats are a nicety */ }
    if (address === null) await new Promise((r) => setTimeout(r, 100));
  }
  return { via, address };
}

export class Mesh {
  constructor({ me, peers, ice, timeoutMs, io, on }) {
    Object.assign(this, { me, ice, timeoutMs, io, on });
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

  // The peer's page is new (reloaded): drop the old connection and make a new one.
  restart(peer) {
    const old = this.links.get(peer);
    if (!old || (!old.opened && performance.now() - old.created < RESTART_AFTER_MS)) return;
    this.links.delete(peer);
    clearTimeout(old.timer);
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
    dc.onmessage = (e) => { if (typeof e.data === "string") this.on.packet(peer, e.data); };
    dc.onclose = () => { if (!this.closed && link.via !== "relay") this.use(peer, "relay"); };
  }

  async opened(peer, link) {
    link.opened = true;
    const { via, address } = await route(link.pc, () => this.closed);
    this.use(peer, via, address);
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
      try { link.dc.send(text); return; } catch { /* fall through to the relay */ }
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
      try { link.dc?.close(); link.pc.close(); } catch { /* already closed */ }
    }
  }
}
