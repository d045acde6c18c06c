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
  if (state === "closed" && scene?.type === "end") return; // the pod may hang up once the study is over
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
    onScene,
    onGame,
    onState: (s) => { if (scene?.type === "gym") pushState(s); },
    onNotice: (n) => showNotice(n?.text),
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
