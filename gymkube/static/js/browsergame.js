// A game that runs in this page (client and p2p modes): Python under Pyodide steps it at the scene's frame rate,
// this module keeps time, feeds keys and policy outputs in, draws what comes out and sends the records to the pod.
import { loadPython, installPackages, loadPolicies, runPolicies, BUNDLE_DIR } from "./runtime.js";
import { Mesh } from "./p2p.js";

const SEND_EVERY_MS = 1000; // records reach the pod at least this often: a closed tab loses at most about a second
const MAX_CATCH_UP = 4; // ticks run at once after the page was slow; beyond that the game slows down instead
const STALL_NOTICE_MS = 600;
// A batch stays well under the pod's 64 KiB message limit (a bigger one closes the connection, nothing written):
// about 100 step rows of a typical game; a backlog after an offline spell goes out in several batches at once.
const MAX_BATCH_CHARS = 40000;
const MAX_ENTRY_CHARS = 48000; // a single larger entry (a huge recorded observation) drops the observation

/**
 * `play` is the pod's `play` message. `hooks`: {state(s), status(gameMessage), records(payload) -> Promise<ack>,
 * turn() -> Promise<ice server>, signal(to, d), relay(to, text), error(err), done()}.
 */
export class BrowserGame {
  constructor(play, hooks) {
    this.play = play;
    this.id = play.game;
    this.hooks = hooks;
    this.config = { ...play.config, searchDir: BUNDLE_DIR };
    this.mode = play.mode;
    this.agent = play.agent;
    this.pending = []; // entries not yet acknowledged by the pod
    this.sending = false;
    this.stopped = false;
    this.game = null; // the Python Solo or Peer
    this.mesh = null;
    this.inbox = []; // packets that arrived before the Python side was ready
    this.signals = []; // signalling that arrived before the links were made
    this.stalledSince = 0;
    this.inferring = false; // p2p: one policy inference in flight at a time (its actions act inputDelay frames on)
    this.sendTimer = setInterval(() => this.flush(), SEND_EVERY_MS);
  }

  status(status, extra = {}) {
    const c = this.config;
    this.hooks.status({ game: this.id, status, episode: Math.min((this.game?.rounds_done ?? c.roundsDone) + 1, c.episodes),
      episodes: c.episodes, countdown: 0, agent: this.agent, keys: c.captureKeys, input: c.inputMode,
      players: this.play.players, group: this.play.group, ...extra });
  }

  async start() {
    this.status("loading");
    if (this.mode === "p2p") await this.connect(); // signalling runs while Python loads
    try {
      const py = await loadPython(this.play.runtime);
      await installPackages(py, this.play.runtime, this.config.packages);
      const players = Object.values(this.config.players).flatMap((p) => [p, p.fallback ?? {}]); // fallbacks may take over
      const policies = [...new Set(players.filter((p) => p.type === "policy").map((p) => p.file))];
      await loadPolicies(this.play.runtime, policies);
      if (this.stopped) return;
      const json = JSON.stringify(this.config);
      this.game = this.mode === "p2p" ? py.pyimport("gymkube.portable.rollback").Peer(json, this.agent)
        : py.pyimport("gymkube.portable.sim").Solo(json);
      this.versions = { python: py.runPython("import sys; sys.version.split()[0]"), pyodide: py.version };
      for (const [peer, [via, address]] of Object.entries(this.mesh?.transports() ?? {})) {
        if (via) this.game.set_transport(peer, via, address);
      }
      if (this.mode === "p2p") this.game.apply_takeovers(JSON.stringify(this.play.config.takeovers ?? {}));
      for (const [from, text] of this.inbox.splice(0)) this.receive(from, text);
    } catch (err) {
      console.error("the game could not start:", err);
      this.status("broken");
      this.hooks.error(err);
      return;
    }
    this.run();
  }

  async connect() {
    const turn = await this.hooks.turn();
    const ice = { iceServers: turn?.urls?.length ? [{ urls: turn.urls, username: turn.username, credential: turn.credential }] : [] };
    this.mesh = new Mesh({
      me: this.agent, peers: this.play.peers, ice, timeoutMs: this.config.p2p.connectTimeoutS * 1000,
      io: { signal: this.hooks.signal, relay: this.hooks.relay },
      on: {
        packet: (from, text) => this.receive(from, text),
        transport: (peer, via, address) => this.game?.set_transport(peer, via, address),
        note: (peer, kind, detail) => this.game?.note(kind, peer, JSON.stringify(detail)),
      },
    });
    this.mesh.start();
    for (const [from, d] of this.signals.splice(0)) this.mesh.signal(from, d);
  }

  /** The pod's `play` again for this game: a partner left for good and their seat now plays its fallback. */
  update(play) {
    this.play = play;
    if (this.mode !== "p2p") return;
    this.game?.apply_takeovers(JSON.stringify(play.config?.takeovers ?? {})); // not loaded yet: applied at start
    if (this.game) this.status(this.stalledSince ? "stalled" : "playing"); // the players as now shown
  }

  /** WebRTC signalling from a peer, through the pod. */
  signal(from, d) {
    if (this.mesh) this.mesh.signal(from, d).catch((err) => this.hooks.error(err));
    else if (this.signals.length < 200) this.signals.push([from, d]);
  }

  receive(from, text) {
    if (this.stopped) return;
    if (!this.game) { if (this.inbox.length < 1000) this.inbox.push([from, text]); return; }
    const replies = JSON.parse(this.game.receive(text, performance.timeOrigin + performance.now()));
    for (const [to, packet] of replies) this.mesh?.send(to, packet);
  }

  /** A key of this participant went down or up; `frame`/`frameMs`: the frame on screen and when it was drawn. */
  key(k, down, seq, t, frame, frameMs) {
    this.game?.key(k, down, seq, t, frame ?? null, frameMs ?? null);
  }

  async run() {
    const c = this.config;
    while (!this.stopped && !this.game.finished) {
      await this.countdown(c.countdownS);
      if (this.stopped) return;
      const now = () => performance.timeOrigin + performance.now();
      this.hooks.state(JSON.parse(this.game.start(now())));
      this.status("playing");
      const end = await this.episode();
      this.flush();
      if (end === "stopped") return;
    }
    if (!this.stopped) this.status("done");
    await this.flush(true);
  }

  countdown(seconds) {
    if (!seconds) return Promise.resolve();
    this.status("countdown", { countdown: seconds });
    return new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  }

  /** Ticks at the scene's frame rate until the episode ends; resolves with its end status. */
  episode() {
    const dt = 1000 / this.config.fps;
    const t0 = performance.now();
    let done = 0;
    return new Promise((resolve) => {
      const loop = async () => {
        if (this.stopped) { resolve("stopped"); return; }
        const due = Math.min(MAX_CATCH_UP, Math.floor((performance.now() - t0) / dt) + 1 - done);
        for (let i = 0; i < due; i++) {
          done += 1;
          const end = this.mode === "p2p" ? this.tickPeer() : await this.tickSolo();
          if (end) { resolve(end); return; }
        }
        if (due === MAX_CATCH_UP) done = Math.floor((performance.now() - t0) / dt) + 1; // too slow: drop the backlog
        setTimeout(loop, Math.max(0, t0 + done * dt - performance.now()));
      };
      loop();
    });
  }

  async tickSolo() {
    const feeds = JSON.parse(this.game.feeds(performance.timeOrigin + performance.now()));
    const outputs = feeds.length ? JSON.stringify(await runPolicies(feeds)) : "";
    if (this.stopped) return "stopped";
    const out = JSON.parse(this.game.tick(outputs, performance.timeOrigin + performance.now()));
    if (out.state) this.hooks.state(out.state); // none while a turn-based game waits for a key
    return out.end;
  }

  tickPeer() {
    if (!this.inferring) this.infer(JSON.parse(this.game.policy_feeds()));
    const out = JSON.parse(this.game.tick(performance.timeOrigin + performance.now()));
    for (const [to, packet] of out.send) this.mesh.send(to, packet);
    if (out.state) this.hooks.state(out.state);
    if (out.stalled) {
      if (!this.stalledSince) this.stalledSince = performance.now();
      else if (performance.now() - this.stalledSince > STALL_NOTICE_MS) this.status("stalled");
    } else if (this.stalledSince) {
      if (performance.now() - this.stalledSince > STALL_NOTICE_MS) this.status("playing");
      this.stalledSince = 0;
    }
    return out.end;
  }

  // The policies this page runs for everyone (it holds the first seat still in the game): onnxruntime-web is
  // asynchronous, so the game never waits for it; the actions reach the game (and the peers) as inputs do.
  infer(feeds) {
    if (!feeds.length) return;
    this.inferring = true;
    runPolicies(feeds.map(([agent, file, input]) => [agent, file, input]))
      .then((logits) => {
        if (!this.stopped && this.game) {
          this.game.policy_result(JSON.stringify(feeds.map(([agent, , , episode, frame]) => [agent, episode, frame])),
            JSON.stringify(logits));
        }
      })
      .catch((err) => this.hooks.error(err))
      .finally(() => { this.inferring = false; });
  }

  /** Sends the records taken so far (one batch in flight at a time; kept and sent again when it fails). */
  async flush(wait = false) {
    if (this.game) {
      const taken = JSON.parse(this.game.take());
      for (const entry of taken) if (entry.k === "start") entry.v = this.versions;
      this.pending.push(...taken);
    }
    if (this.sending || !this.pending.length) return;
    this.sending = true;
    let chars = 0;
    let count = 0;
    for (const entry of this.pending) {
      let size = JSON.stringify(entry).length;
      if (size > MAX_ENTRY_CHARS && entry.row?.obs !== undefined) {
        entry.row.obs = null; // kept from the batch limit; the step itself is recorded
        size = JSON.stringify(entry).length;
      }
      if (count > 0 && (chars + size > MAX_BATCH_CHARS || count >= 2000)) break;
      chars += size;
      count += 1;
    }
    const batch = this.pending.slice(0, count);
    let sent = false;
    try {
      const ack = await this.hooks.records({ g: this.id, x: batch });
      sent = Boolean(ack?.ok);
      if (ack?.ok) this.pending.splice(0, batch.length);
      else if (ack?.error) { // the pod refused it: sending it again cannot help
        this.pending.splice(0, batch.length);
        this.hooks.error(new Error(`records refused: ${ack.error}`));
      }
    } catch { /* offline or unanswered: kept for the next try */ }
    this.sending = false;
    if (this.pending.length && (wait || sent) && !this.stopped) { // a backlog: the next batch now (or soon, at the end)
      if (wait && !sent) await new Promise((r) => setTimeout(r, 500));
      return this.flush(wait);
    }
  }

  /** Stops the game (the scene changed); records still pending are sent once more. */
  stop() {
    if (this.stopped) return;
    this.stopped = true;
    this.flush();
    clearInterval(this.sendTimer);
    this.mesh?.close();
    setTimeout(() => { try { this.game?.destroy(); } catch { /* gone */ } this.game = null; }, 2000);
  }
}
