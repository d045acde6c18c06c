// The path a p2p link uses, and mending one that breaks mid-game: the pod's relay carries the packets at once, then an
// ICE restart with every candidate, then one that gathers TURN candidates only, then a new connection (as after a
// reload); a pair whose new connection does not open stays on the relay. `mesh` is the Mesh of p2p.js.
const RESTARTS = 2; // ICE restarts tried before a new connection

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

/** A link's ICE state changed: a path that worked broke, or came back (by itself, or after a restart). */
export function pathChanged(mesh, peer, link) {
  if (mesh.closed || mesh.links.get(peer) !== link || !link.opened) return;
  const state = link.pc.iceConnectionState;
  if ((state === "disconnected" || state === "failed") && link.mending === undefined) {
    broken(mesh, peer, link, { state });
  } else if ((state === "connected" || state === "completed") && link.mending !== undefined) {
    clearTimeout(link.mendTimer);
    mesh.on.note?.(peer, "path_mended", { attempts: link.mending });
    link.mending = undefined;
    reroute(mesh, peer, link);
  }
}

/** The path of an open link broke (seen here, or by the answerer who asked for a restart): mend it. */
export function broken(mesh, peer, link, detail = null) {
  if (!link.opened || link.mending !== undefined) return;
  link.mending = 0;
  mesh.use(peer, "relay"); // the pod carries the packets meanwhile
  if (detail) mesh.on.note?.(peer, "path_broken", detail);
  mend(mesh, peer, link);
}

function mend(mesh, peer, link) {
  const turn = (mesh.ice.iceServers ?? []).some((s) => [s.urls].flat().some((u) => /^turns?:/.test(u)));
  if (mesh.closed || mesh.links.get(peer) !== link || link.mending === undefined) return;
  if (link.mending >= RESTARTS) { // the connection itself may be gone: a new one (the relay carries until it opens)
    mesh.on.note?.(peer, "ice_restart", { attempt: link.mending + 1, candidates: "new_connection" });
    if (mesh.offerer(peer)) mesh.renew(peer);
    return;
  }
  const policy = turn && link.mending > 0 ? "relay" : "all";
  link.mending++;
  if (policy === "relay") {
    try { link.pc.setConfiguration({ ...link.pc.getConfiguration?.(), iceTransportPolicy: "relay" }); } catch { /* as it was */ }
  }
  mesh.on.note?.(peer, "ice_restart", { attempt: link.mending, candidates: policy });
  if (mesh.offerer(peer)) reoffer(mesh, peer, link).catch(() => {});
  else mesh.io.signal(peer, { restart: true }); // the offerer restarts
  link.mendTimer = setTimeout(() => mend(mesh, peer, link), mesh.mendAfterMs);
}

async function reoffer(mesh, peer, link) {
  link.pc.restartIce?.();
  await link.pc.setLocalDescription(await link.pc.createOffer({ iceRestart: true }));
  mesh.io.signal(peer, { sdp: link.pc.localDescription.toJSON() });
}

/** Uses the link's channel again, by the path it now takes. */
export async function reroute(mesh, peer, link) {
  const { via, address } = await route(link.pc, () => mesh.closed);
  if (link.dc?.readyState === "open") mesh.use(peer, via, address);
}
