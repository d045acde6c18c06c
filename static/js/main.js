// Entry point: wires the connection to the screens, the renderer, key capture and telemetry.
import { connectPod, finishScene, sendInput, sendTelemetry } from "./net.js";
import { showScene, showPage } from "./scenes.js";
import { showGameStatus, showConnection, showNotice, setHud, showBroken } from "./overlays.js";
import { startRenderer, stopRenderer, pushState, shownFrame } from "./renderer.js";
import { startInput, stopInput } from "./input.js";
import { watchAttention, makeErrorReporter, catchErrors } from "./telemetry.js";

const reportError = makeErrorReporter(sendTelemetry, showBroken);
catchErrors(reportError);

let scene = null; // the scene on screen
let inputSeq = 0;

function stopGame() {
  stopInput();
  stopRenderer();
}

function onScene(msg) {
  stopGame();
  scene = msg.scene;
  const gym = showScene(msg, finishScene);
  if (gym) startRenderer(gym.canvas, scene, setHud);
}

function onGame(game) {
  if (scene?.type !== "gym") return;
  showGameStatus(game);
  if (game.status === "playing") {
    const keys = game.keys?.length ? game.keys : scene.keys;
    startInput(keys, (k, d, t) => sendInput({ s: ++inputSeq, k, d, t, f: shownFrame() ?? -1 }));
  } else {
    stopInput();
  }
}

function onConnection(state) {
  if (state === "reconnecting" || state === "closed") stopInput();
  showConnection(state);
}

function onRefused(message) {
  stopGame();
  scene = null;
  showConnection("connected");
  showPage("This link cannot be used right now", message);
}

function start() {
  const token = new URLSearchParams(location.search).get("t");
  if (!token) {
    showPage("This link is incomplete", "This link is incomplete — please use the link you were given.");
    return;
  }
  watchAttention(sendTelemetry);
  connectPod(token, {
    scene: onScene,
    game: onGame,
    state: (s) => { if (scene?.type === "gym") pushState(s); },
    notice: (n) => showNotice(n?.text),
    refused: onRefused,
    connection: onConnection,
    error: reportError,
  });
}

try {
  start();
} catch (err) {
  reportError(err);
}
