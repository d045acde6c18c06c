// Things drawn over the screens: the gym status overlay, the connection banner, the notice toast, the HUD, the error banner.

let last = null; // { box, game }: the newest game status, for the overlay it was shown on
let noticeTimer = 0;

function say(box, text, big) {
  const lines = [Object.assign(document.createElement("p"), { textContent: text })];
  if (big) lines.push(Object.assign(document.createElement("p"), { className: "big", textContent: big }));
  box.replaceChildren(...lines);
  box.hidden = false;
}

/** Marks #scene with data-game-status and updates the #status overlay for a `game` message. */
export function showGameStatus(game) {
  const root = document.getElementById("scene");
  const box = document.getElementById("status");
  root.dataset.gameStatus = game.status;
  if (!box) return;
  last = { box, game };
  clearInterval(box.timer);
  if (game.status === "countdown") {
    const until = performance.now() + (game.countdown || 0) * 1000;
    const episode = game.episodes > 1 ? `Episode ${game.episode} of ${game.episodes}` : "Get ready";
    const tick = () => {
      if (!box.isConnected) { clearInterval(box.timer); return; }
      say(box, episode, String(Math.max(1, Math.ceil((until - performance.now()) / 1000))));
    };
    box.timer = setInterval(tick, 100);
    tick();
  } else if (game.status === "playing") box.hidden = true;
  else if (game.status === "between") say(box, `Episode ${game.episode} of ${game.episodes} finished`);
  else if (game.status === "done") say(box, "Finished — please wait…");
  else if (game.status === "paused") say(box, "Paused — please wait…");
  else if (game.status === "abandoned") say(box, "This game has ended — please wait…");
  else box.hidden = true;
}

/** Reflects the connection in a banner, and as "Reconnecting…" on the game overlay; restores the overlay once back. */
export function showConnection(state) {
  const banner = document.getElementById("connection");
  const lost = state === "reconnecting" || state === "closed";
  banner.textContent = state === "closed" ? "The connection was closed. Please reload the page." : "Reconnecting…";
  banner.hidden = !lost;
  const box = document.getElementById("status");
  if (!box) return;
  if (lost) {
    clearInterval(box.timer);
    say(box, banner.textContent);
  } else if (last?.box === box) showGameStatus(last.game);
  else box.hidden = true;
}

/** Sets the heads-up line above the game. */
export function setHud(text) {
  const hud = document.getElementById("hud");
  if (hud && hud.textContent !== text) hud.textContent = text;
}

/** Shows `text` in the toast for about six seconds. */
export function showNotice(text) {
  const box = document.getElementById("notice");
  clearTimeout(noticeTimer);
  Object.assign(box, { textContent: String(text ?? ""), hidden: false });
  noticeTimer = setTimeout(() => { box.hidden = true; }, 6000);
}

/** Shows the "something went wrong" banner (the details only go to telemetry). */
export function showBroken() {
  document.getElementById("broken").hidden = false;
  document.getElementById("reload").onclick = () => location.reload();
}
