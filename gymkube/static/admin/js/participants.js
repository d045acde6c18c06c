// The participants table: searched, filtered and paged on the server (cursor pages, newest first).
import {get, experimentPath} from "./api.js";
import {duration, h, number, show, table, time} from "./dom.js";
import {endingName} from "./overview.js";

const STATE_NAMES = {here: "here", waiting: "waiting", away: "away", completed: "completed", ended: "ended early"};
const state = {experiment: null, cursors: [], next: null, busy: false, typed: null};

function filters() {
  return {
    search: document.getElementById("search").value.trim(),
    state: document.getElementById("state").value,
    scene: document.getElementById("scene").value,
  };
}

function status(row) {
  const name = STATE_NAMES[row.state] || row.state;
  if (row.state === "waiting" && row.waiting_since_ns) return `${name} ${duration((Date.now() * 1e6 - row.waiting_since_ns) / 1e9)}`;
  return row.state === "ended" ? `${name}: ${endingName(row.end_reason)}` : name;
}

function render(page) {
  document.getElementById("total").textContent = `(${number(page.total)} match)`;
  const rows = page.participants.map((row) => h("tr", {class: `state-${row.state}`},
    h("td", {}, h("a", {href: `#participant=${encodeURIComponent(row.participant)}`}, row.participant)),
    h("td", {}, status(row)), h("td", {}, `${row.scene ?? ""} (${(row.scene_index ?? 0) + 1}/${row.scenes ?? "?"})`),
    h("td", {}, time(row.t_start_ns)), h("td", {}, time(row.updated_ns)),
    h("td", {}, row.latency_ms === null ? "" : `${number(row.latency_ms)} ms`),
    h("td", {}, number(row.drops)), h("td", {class: row.client_errors ? "bad" : ""}, number(row.client_errors)),
    h("td", {}, row.completion_code ?? ""), h("td", {}, row.pod ?? "")));
  show("participants", rows.length ? table(["participant", "status", "scene", "started", "last change", "round trip",
    "drops", "errors", "code", "pod"], rows) : h("p", {class: "muted"}, "Nobody matches."));
  state.next = page.next;
  document.getElementById("next").disabled = !page.next;
  document.getElementById("first").hidden = state.cursors.length === 0;
}

// The current page again (live), or the page at `cursor`.
export async function load(cursor = state.cursors.at(-1) ?? null) {
  if (!state.experiment || state.busy) return;
  state.busy = true;
  try {
    render(await get(experimentPath(state.experiment, "/participants"), {...filters(), cursor, limit: 50}));
  } catch (error) {
    show("participants", h("p", {class: "bad"}, error.message));
  } finally {
    state.busy = false;
  }
}

export function open(experiment, scenes) {
  if (state.experiment !== experiment) {
    state.experiment = experiment;
    state.cursors = [];
    document.getElementById("filters").reset();
  }
  const select = document.getElementById("scene");
  if (select.options.length !== scenes.length + 1) {
    const chosen = select.value;
    select.replaceChildren(h("option", {value: ""}, "every scene"), scenes.map((scene) => h("option", {value: scene}, scene)));
    select.value = chosen;
  }
}

export function wire() {
  const restart = () => { state.cursors = []; load(null); };
  document.getElementById("filters").addEventListener("submit", (event) => { event.preventDefault(); restart(); });
  document.getElementById("search").addEventListener("input", () => {
    clearTimeout(state.typed);
    state.typed = setTimeout(restart, 250);
  });
  for (const id of ["state", "scene"]) document.getElementById(id).addEventListener("change", restart);
  document.getElementById("next").addEventListener("click", () => {
    if (state.next) { state.cursors.push(state.next); load(state.next); }
  });
  document.getElementById("first").addEventListener("click", restart);
}
