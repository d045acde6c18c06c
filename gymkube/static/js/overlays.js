// Things drawn over the screens: the gym status overlay (waiting room, countdown), the role line, the connection
// banner, the notice toast, the HUD, the error banner.

let last = null; // { box, restore }: redraws the newest waiting/game status on the overlay it was shown on
let noticeTimer = 0;

const para = (textContent, className = "") => Object.assign(document.createElement("p"), { textContent, className });

function say(box, text, big) {
  box.replaceChildren(para(text), ...(big ? [para(big, "big")] : []));
  box.hidden = false;
}

/** Seconds as "m:ss", rounded up so the shown time never runs out before the real one. */
export function formatWait(seconds) {
  const s = Math.max(0, Math.ceil(Number(seconds) || 0));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/**
 * The waiting room's overlay lines for a `waiting` message, `remaining` being the seconds left now:
 * the headline first, then details ("2 of 3 here", "up to 1:45"). Without time left the deadline line is left out.
 */
export function waitingText({ have, size, remaining, gate }) {
  const lines = [];
  const missing = Math.max(0, (size | 0) - (have | 0));
  if (gate === "latency") lines.push("Checking your connection…");
  else if (missing > 0) lines.push(`Waiting for ${missing} more participant${missing === 1 ? "" : "s"}…`);
  else lines.push("Everyone is here — starting soon…");
  if (size > 1) lines.push(`${have | 0} of ${size | 0} here`);
  if (remaining > 0) lines.push(`up to ${formatWait(remaining)}`);
  return lines;
}

/** Marks #scene with data-game-status="waiting" and keeps the waiting room's lines on #status, counting down. */
export function showWaiting(msg) {
  const root = document.getElementById("scene");
  const box = document.getElementById("status");
  root.dataset.gameStatus = "waiting";
  if (!box) return;
  clearInterval(box.timer);
  // The deadline is kept as a local time: each message re-syncs it, a reconnect resumes it.
  const until = performance.now() + (Number(msg.remaining) || 0) * 1000;
  const left = () => (until - performance.now()) / 1000;
  last = { box, restore: () => showWaiting({ ...msg, remaining: left() }) };
  const tick = () => {
    if (!box.isConnected) { clearInterval(box.timer); return; }
    const [headline, ...details] = waitingText({ ...msg, remaining: left() });
    box.replaceChildren(para(headline), ...details.map((d) => para(d, "detail")));
    box.hidden = false;
  };
  box.timer = setInterval(tick, 250);
  tick();
}

/** Marks #scene with data-game-status and updates the #status overlay for a `game` message. */
export function showGameStatus(game) {
  const root = document.getElementById("scene");
  const box = document.getElementById("status");
  root.dataset.gameStatus = game.status;
  if (!box) return;
  last = { box, restore: () => showGameStatus(game) };
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
  else if (game.status === "loading") say(box, "Loading the game in your browser…");
  else if (game.status === "stalled") say(box, "Waiting for your partner…");
  else if (game.status === "broken") say(box, "The game could not start in this browser — please reload the page.");
  else box.hidden = true;
}

const playerName = (p) => String(p.label || p.agent);

// "A", "A and B", "A, B and C".
const listed = (names) => (names.length < 2 ? names.join("") : `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`);

/**
 * Who this participant is among a `game` message's players: {agent, name, color, partners} with partners as
 * "with Red (AI partner)", or null when playing alone or when the own agent is not listed.
 */
export function describePlayers(players, agent) {
  if (!Array.isArray(players) || players.length < 2) return null;
  const me = players.find((p) => p?.you) ?? players.find((p) => p?.agent === agent);
  if (!me) return null;
  const others = players.filter((p) => p && p !== me)
    // "(AI partner)" unless the label already says it is an AI ("AI partner", "Computer AI").
    .map((p) => (p.kind === "ai" && !/\bAI\b/i.test(playerName(p)) ? `${playerName(p)} (AI partner)` : playerName(p)));
  return { agent: String(me.agent), name: playerName(me), color: me.color || null,
    partners: others.length ? `with ${listed(others)}` : "" };
}

/** Shows or updates (game messages repeat) the "You are ■ Blue" line above the canvas; removes it when alone. */
export function showRole(game) {
  const who = describePlayers(game.players, game.agent);
  const hud = document.getElementById("hud");
  let line = document.getElementById("role");
  if (!who || !hud) { line?.remove(); return; }
  if (!line) {
    line = Object.assign(document.createElement("p"), { id: "role", className: "role" });
    hud.before(line);
  }
  line.dataset.agent = who.agent;
  const swatch = Object.assign(document.createElement("span"), { className: "swatch" });
  swatch.setAttribute("aria-hidden", "true");
  if (who.color) swatch.style.backgroundColor = who.color; // an invalid colour is ignored: the CSS grey stays
  const name = Object.assign(document.createElement("span"), { className: "name", textContent: who.name });
  const partners = Object.assign(document.createElement("span"), { className: "partners", textContent: who.partners });
  // Labels are researcher text but still plain text: only ever textContent.
  line.replaceChildren("You are ", swatch, " ", name, ...(who.partners ? [" — ", partners] : []));
}

/**
 * Reflects the connection in a banner, and (with `overlay`) as "Reconnecting…" on the game overlay; restores the
 * overlay once back. A game running in the page keeps its overlay: it plays on while the pod is away.
 */
export function showConnection(state, overlay = true) {
  const banner = document.getElementById("connection");
  const lost = state === "reconnecting" || state === "closed";
  banner.textContent = state === "closed" ? "The connection was closed. Please reload the page." : "Reconnecting…";
  banner.hidden = !lost;
  const box = document.getElementById("status");
  if (!box || (!overlay && state !== "closed")) return;
  if (lost) {
    clearInterval(box.timer);
    say(box, banner.textContent);
  } else if (last?.box === box) last.restore();
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
