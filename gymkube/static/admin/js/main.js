// The dashboard page: pick an experiment, poll its views (at most once a second, only while the tab is seen), act.
import {get, post, experimentPath} from "./api.js";
import {buckets, fps, ms, plain, timeline as overTime} from "./charts.js";
import {h, show, time} from "./dom.js";
import * as overview from "./overview.js";
import * as participants from "./participants.js";
import {showParticipant} from "./timeline.js";

const TABLES = ["sessions", "steps", "episodes", "scenes", "events", "frames", "screening"];
const current = {name: null, view: null, tick: 0, polling: false};

function hashParams() {
  return new URLSearchParams(location.hash.slice(1));
}

async function experiments() {
  const {viewer, experiments: list} = await get("experiments");
  document.getElementById("viewer").textContent = viewer.admin ? "admin" : `researcher ${viewer.name}`;
  document.getElementById("empty").hidden = list.length > 0;
  const wanted = hashParams().get("experiment");
  const chosen = list.find((e) => e.name === wanted) ?? list.find((e) => e.name === current.name) ?? list[0];
  show("experiments", list.map((e) => h("a", {href: `#experiment=${encodeURIComponent(e.name)}`,
    class: e.name === chosen?.name ? "current" : "", "aria-current": e.name === chosen?.name ? "page" : null},
  e.name, h("span", {class: `phase ${e.phase.toLowerCase()}`}, e.phase))));
  return chosen ? chosen.name : null;
}

function downloads(name) {
  show("downloads", TABLES.map((table) => h("p", {}, table, " ",
    ["csv", "parquet"].map((format) => [h("a", {href: `/admin/api/${experimentPath(name, `/data/${table}`)}?format=${format}`,
      download: `${name}-${table}.${format}`}, format), " "]))));
}

async function refreshLive() {
  const view = await get(experimentPath(current.name, "/live"));
  current.view = view;
  document.getElementById("name").textContent = view.experiment;
  document.getElementById("subtitle").replaceChildren(view.title, " · participants start at ",
    h("a", {href: view.url}, view.url));
  const pause = document.getElementById("pause");
  pause.textContent = view.paused ? "Resume (take new participants)" : "Pause (no new participants)";
  pause.className = view.paused ? "primary" : "";
  const index = view.index;
  document.getElementById("freshness").textContent = index.failing ? `Cannot read the data: ${index.failing}`
    : index.behind ? `Catching up with the data: ${index.behind} chunks to read…`
      : `Live · data read ${index.updated ? time(index.updated * 1e9) : "…"}${view.paused ? " · PAUSED: no new participants" : ""}`;
  overview.cards(view);
  overview.funnel(view);
  overview.pods(view);
  overview.lobbies(view);
  participants.open(view.experiment, view.funnel.scenes.map((s) => s.scene));
}

async function refreshPlots() {
  const data = await get(experimentPath(current.name, "/plots"));
  const hist = data.histograms;
  show("plots", overTime("Arrivals and completions", data.time),
    buckets("Participants' round trip (ms)", data.latency_ms, plain),
    buckets("Browser frame rate (fps)", hist.browser_frame_interval_seconds, fps, "per report"),
    buckets("Tick lateness (ms)", hist.tick_lateness_seconds, ms, "per tick"),
    buckets("Key to state (ms)", hist.input_to_state_seconds, ms, "per input"));
}

async function poll() {
  if (!current.name || document.hidden || current.polling) return;
  current.polling = true;
  const tick = current.tick++;
  const live = await Promise.allSettled([refreshLive()]);  // first: it tells the table which experiment is shown
  const jobs = [];
  if (tick % 10 === 9) jobs.push(experiments());
  if (tick % 2 === 0) jobs.push(participants.load());
  if (tick % 3 === 0) jobs.push(get(experimentPath(current.name, "/groups")).then(overview.groups),
    get(experimentPath(current.name, "/errors")).then(overview.errors));
  if (tick % 5 === 0) jobs.push(refreshPlots());
  const results = [...live, ...await Promise.allSettled(jobs)];
  current.polling = false;
  const failed = results.find((r) => r.status === "rejected");
  if (failed) document.getElementById("freshness").textContent = `Not updated: ${failed.reason.message}`;
}

async function choose() {
  const params = hashParams();
  if (params.has("participant") && current.name) {
    const endings = current.view ? current.view.endings : ["technical"];
    showParticipant(current.name, params.get("participant"), endings);
    history.replaceState(null, "", `#experiment=${encodeURIComponent(current.name)}`);
    return;
  }
  const name = await experiments();
  document.getElementById("study").hidden = !name;
  if (name !== current.name) {
    current.name = name;
    current.tick = 0;
    if (name) downloads(name);
  }
  await poll();
}

document.getElementById("pause").addEventListener("click", async (event) => {
  const button = event.currentTarget;
  button.disabled = true;
  try {
    await post(experimentPath(current.name, current.view?.paused ? "/resume" : "/pause"));
    await experiments();
    await refreshLive();
  } catch (error) {
    document.getElementById("freshness").textContent = error.message;
  } finally {
    button.disabled = false;
  }
});
participants.wire();
window.addEventListener("hashchange", choose);
document.addEventListener("visibilitychange", poll);
choose();
setInterval(poll, 1000);
