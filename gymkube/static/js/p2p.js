// Peer-to-peer links of a p2p game: one WebRTC DataChannel per pair of peers (unordered, no retransmits), signalled
// through the pod; a peer whose channel is not open within the timeout is reached through the pod's relay instead.
// A path that breaks mid-game (ICE disconnected or failed) goes through the pod's relay at once while it is mended:
// an ICE restart, then one that gathers TURN candidates only; one that still fails leaves the pair on the relay.

/**
 * `me` and `peers` are agent ids (`peers` includes `me`, in seat order: the earlier seat makes the offer).
 * `io` = {signal(to, d), relay(to, text)}; `on` = {packet(from, text), transport(peer, via, address), note(peer,
 * kind, detail)} with via "direct" | "turn" | "relay". `ice` is an RTCConfiguration.
 */
const RESTART_AFTER_MS = 3000; // a hello from a peer whose link is older than this (or was open) means a reload
const MEND_AFTER_MS = 6000; // an ICE restart not connected by then gives way to the next step
const MENDS = 4; // ICE restarts tried before a pair stays on the pod's relay
// Peers send every tick: a channel silent this long may be a broken path that ICE has not noticed yet (that takes it
// seconds), so packets go through the pod as well until the peer is heard again (duplicates are harmless).
const QUIET_MS = 1000;

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

  // The peer's page is new (reloaded): drop the old connection and make a new one.
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
    pc.oniceconnectionstatechange = () => this.iceState(peer, link);
    return link;
  }

  // A path that worked broke (or came back by itself, or after a restart).
  iceState(peer, link) {
    if (this.closed || this.links.get(peer) !== link || !link.opened) return;
    const state = link.pc.iceConnectionState;
    if ((state === "disconnected" || state === "failed") && link.mending === undefined) {
      link.mending = 0;
      this.use(peer, "relay"); // the pod carries the packets meanwhile
      this.on.note?.(peer, "path_broken", { state });
      this.mend(peer, link);
    } else if ((state === "connected" || state === "completed") && link.mending !== undefined) {
      clearTimeout(link.mendTimer);
      this.on.note?.(peer, "path_mended", { attempts: link.mending });
      link.mending = undefined;
      this.reroute(peer, link);
    }
  }

  // The next step of mending: an ICE restart (all candidates), then ones with TURN candidates only (a path that
  // comes back within a few attempts is used again), then the pod's relay for the rest of the game.
  mend(peer, link) {
    const turn = (this.ice.iceServers ?? []).some((s) => [s.urls].flat().some((u) => /^turns?:/.test(u)));
    if (this.closed || this.links.get(peer) !== link || link.mending === undefined) return;
    if (link.mending >= MENDS) {
      this.on.note?.(peer, "path_given_up", { attempts: link.mending });
      return; // stays on the pod's relay
    }
    const policy = turn && link.mending > 0 ? "relay" : "all";
    link.mending++;
    if (policy === "relay") {
      try { link.pc.setConfiguration({ ...link.pc.getConfiguration?.(), iceTransportPolicy: "relay" }); } catch { /* as it was */ }
    }
    this.on.note?.(peer, "ice_restart", { attempt: link.mending, candidates: policy });
    if (this.offerer(peer)) this.reoffer(peer, link).catch(() => {});
    else this.io.signal(peer, { restart: true }); // the offerer restarts
    link.mendTimer = setTimeout(() => this.mend(peer, link), this.mendAfterMs);
  }

  async reoffer(peer, link) {
    link.pc.restartIce?.();
    await link.pc.setLocalDescription(await link.pc.createOffer({ iceRestart: true }));
    this.io.signal(peer, { sdp: link.pc.localDescription.toJSON() });
  }

  async reroute(peer, link) {
    const { via, address } = await route(link.pc, () => this.closed);
    if (link.dc?.readyState === "open") this.use(peer, via, address);
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
    await this.reroute(peer, link);
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
      if (open?.opened && open.mending === undefined && this.offerer(from)) {
        open.mending = 0;
        this.use(from, "relay");
        this.mend(from, open);
      }
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
