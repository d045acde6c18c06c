// Entry point: wires the connection to the screens, the renderer, key capture and telemetry.
import { connectPod, finishScene, sendInput, sendTelemetry, sendRecords, askTurn, sendSignal, sendRelay, sendProbeSignal,
  sendProbeResult, sendUnity } from "./net.js";
import { BrowserGame } from "./browsergame.js";
import { Probes } from "./probe.js";
import { preload } from "./runtime.js";
import { showScene, showPage } from "./scenes.js";
import { showGameStatus, showWaiting, showRole, showConnection, showNotice, setHud, showBroken } from "./overlays.js";
import { startRenderer, stopRenderer, pushState, shownFrame, latestEpisode, setOwnAgent, takeDrawTimes } from "./renderer.js";
import { startInput, stopInput, isCapturing } from "./input.js";
import { watchAttention, makeErrorReporter, catchErrors, watchPolicy } from "./telemetry.js";
import { startUnity } from "./unity.js";

const reportError = makeErrorReporter(sendTelemetry, showBroken);
// What a researcher's page did wrong, and anything the page's CSP blocked: recorded, never shown as "broken".
const reportProblem = makeErrorReporter(sendTelemetry, () => {});
catchErrors(reportError);
watchPolicy(reportProblem);

let scene = null; // the scene on screen
let browserGame = null; // the game running in this page (client and p2p modes), or null
// Round trips to other waiting browsers, measured when the pod asks (p2p scenes with group.maxPeerRttMs).
const probes = new Probes({ turn: askTurn, signal: sendProbeSignal, result: sendProbeResult },
  () => globalThis.gymkubeDebug?.sendDelayMs || 0);
let preloading = null; // the promise of a browser game's runtimes loading while earlier scenes are read
let unityScene = null; // the Unity build running in this page, or null
// The pod ignores a sequence number not above the last it saw, also across a reload: start from the clock.
let inputSeq = Date.now();
const REPORT_DRAWS_EVERY_MS = 1000;

// When each frame reached the canvas, for reaction times measured from what was on screen.
function reportDrawTimes() {
  for (const { g, e, f, ms } of takeDrawTimes()) sendTelemetry({ kind: "frames", g, e, f, ms });
}

function stopGame() {
  probes.closeAll();
  stopInput();
  stopRenderer();
  reportDrawTimes();
  browserGame?.stop();
  browserGame = null;
  unityScene?.stop();
  unityScene = null;
}

// A browser game lies ahead: load Pyodide, its packages and code now, so that it starts at once when its scene opens.
function startPreload(what) {
  if (preloading || !what?.runtime) return;
  preloading = new Promise((resolve) => setTimeout(resolve, 0)) // after the scene is on screen
    .then(() => preload(what))
    .then(() => true, (err) => { reportProblem(`preloading the game failed: ${err?.message || err}`); return false; });
}

function onScene(msg) {
  startPreload(msg?.preload);
  // Back after a dropped connection to the scene whose game runs in this page: it has kept going; keep it.
  if (msg?.resumed && browserGame && !browserGame.stopped && scene?.id === msg.scene?.id) return;
  if (msg?.resumed && unityScene && scene?.id === msg.scene?.id) return; // the build plays on
  stopGame();
  scene = msg.scene;
  const shown = showScene(msg, finishScene, reportProblem);
  if (shown?.canvas) startRenderer(shown.canvas, scene, setHud, reportProblem);
  if (shown?.unity) unityScene = startUnity(shown.unity, scene, sendUnity, reportProblem);
}

// The waiting room of the gym scene on screen: the group is not complete yet (or the connection is being checked).
function onWaiting(msg) {
  if (scene?.type !== "gym" || (msg?.scene != null && msg.scene !== scene.id)) return;
  showWaiting(msg);
}

function onGame(game) {
  if (scene?.type !== "gym") return;
  showGameStatus(game);
  showRole(game);
  // Ringing one's own object only helps when there are others on screen; single-player games look as before.
  setOwnAgent(game.players?.length > 1 ? game.agent : null);
  if (game.status === "playing") {
    if (isCapturing()) return; // a repeated "playing" (e.g. after a resume) must not release held keys
    const keys = game.keys?.length ? game.keys : scene.keys;
    const here = browserGame; // keys of a browser game go to it, not to the pod
    startInput(keys, (k, d, t) => {
      // The pod ignores inputs tagged with another episode; the newest state received names the
      // current one even before its first frame is drawn.
      const shown = shownFrame();
      if (here) here.key(k, d, ++inputSeq, t, shown?.f, shown?.ms);
      else sendInput({ s: ++inputSeq, k, d, t, f: shown?.f ?? null, ft: shown?.ms ?? null, e: latestEpisode() });
    }, scene.gamepad || null);
  } else if (game.status !== "stalled") {
    stopInput();
  }
}

// The pod says: run this game here. A page that already runs it carries on (a reconnect, not a reload).
function onPlay(msg) {
  if (scene?.type !== "gym" || !msg?.game) return;
  if (browserGame && browserGame.id === msg.game && !browserGame.stopped) {
    browserGame.update(msg);
    return;
  }
  probes.closeAll(); // grouped: the waiting room's measurements are over
  browserGame?.stop();
  const game = new BrowserGame(msg, {
    state: (s) => { if (browserGame === game) pushState(s); },
    status: (g) => { if (browserGame === game) onGame(g); },
    records: sendRecords,
    turn: askTurn,
    signal: sendSignal,
    relay: sendRelay,
    error: reportError,
  });
  browserGame = game;
  game.start();
}

function onConnection(state) {
  // A game running in this page goes on while the pod is away: its records wait and are sent when it is back.
  const playingHere = Boolean(browserGame && !browserGame.stopped);
  if ((state === "reconnecting" && !playingHere) || state === "closed") stopInput();
  if (state === "closed" && scene?.type === "end") return; // the pod may hang up once the study is over
  showConnection(state, !playingHere);
}

function onRefused(message) {
  stopGame();
  scene = null;
  showConnection("connected");
  showPage("This link cannot be used right now", message);
}

// For tests and for researchers checking a setup in the console: the browser game, and an added send delay (p2p).
globalThis.gymkubeDebug = { get game() { return browserGame; }, get preloaded() { return preloading; }, sendDelayMs: 0,
  perturb() { browserGame?.game?.perturb(); } };

function start() {
  const token = new URLSearchParams(location.search).get("t");
  if (!token) {
    showPage("This link is incomplete", "This link is incomplete — please use the link you were given.");
    return;
  }
  watchAttention(sendTelemetry);
  setInterval(reportDrawTimes, REPORT_DRAWS_EVERY_MS);
  window.addEventListener("pagehide", () => { reportDrawTimes(); browserGame?.flush(); unityScene?.flush(); });
  connectPod(token, {
    onScene,
    onGame,
    onWaiting,
    onState: (s) => { if (scene?.type === "gym") pushState(s); },
    onNotice: (n) => showNotice(n?.text),
    onPlay,
    onSignal: (m) => browserGame?.signal(m?.from, m?.d),
    onRelay: (m) => browserGame?.receive(m?.from, m?.d),
    onProbe: (m) => { if (scene?.type === "gym" && !browserGame) probes.handle(m); },
    onProbeSignal: (m) => probes.signal(m?.id, m?.d),
    onRefused,
    onConnection,
    onError: reportError,
  });
}

try {
  start();
} catch (err) {
  reportError(err);
}
