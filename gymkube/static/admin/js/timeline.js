// One participant's session and timeline, in a dialog; from there the researcher may end their session.
import {get, post, experimentPath} from "./api.js";
import {duration, h, number, table, time} from "./dom.js";
import {endingName} from "./overview.js";

const dialog = () => document.getElementById("timeline");

function describe(event) {
  const d = event.detail || {};
  switch (event.kind) {
    case "scene": return `now in ${d.scene}`;
    case "client_error": return d.message;
    case "group_formed": return `group ${d.group} as ${d.agent} after ${duration(d.waited_s)}`;
    case "waiting_join": case "waiting_leave": case "wait_timeout": return `${d.scene ?? ""} ${d.why ?? ""}`;
    case "ended": return `${endingName(d.reason)}, code ${d.code}`;
    case "ended_by_researcher": return `by ${d.by}: ${endingName(d.ending)}`;
    case "completed": return `code ${d.code}`;
    default: return Object.keys(d).length ? JSON.stringify(d).slice(0, 300) : "";
  }
}

function ending(experiment, who, endings) {
  const choice = h("select", {"aria-label": "Ending"}, endings.map((name) => h("option", {value: name}, endingName(name))));
  choice.value = endings.includes("technical") ? "technical" : endings[0];
  const note = h("p", {class: "muted"});
  const button = h("button", {class: "danger", type: "button", onclick: async () => {
    if (!confirm(`End the session of ${who} now? They see the ending "${endingName(choice.value)}" and its code.`)) return;
    button.disabled = true;
    try {
      const result = await post(experimentPath(experiment, `/participants/${encodeURIComponent(who)}/end`), {ending: choice.value});
      note.textContent = `Ended: ${endingName(result.ending)}, code ${result.code}.`;
    } catch (error) {
      note.textContent = error.message;
      button.disabled = false;
    }
  }}, "End session");
  return h("div", {class: "end"}, h("label", {}, "Ending ", choice), " ", button, note);
}

export async function showParticipant(experiment, who, endings) {
  const box = dialog();
  box.replaceChildren(h("p", {}, "Loading…"));
  if (!box.open) box.showModal();
  let found;
  try {
    found = await get(experimentPath(experiment, `/participants/${encodeURIComponent(who)}`));
  } catch (error) {
    box.replaceChildren(h("p", {class: "bad"}, error.message), h("button", {onclick: () => box.close()}, "Close"));
    return;
  }
  const p = found.participant;
  const facts = [["status", p.state], ["scene", `${p.scene} (${(p.scene_index ?? 0) + 1} of ${p.scenes})`],
    ["started", time(p.t_start_ns)], ["code", p.completion_code ?? ""], ["pod", p.pod ?? ""],
    ["round trip", p.latency_ms === null ? "" : `${number(p.latency_ms)} ms`], ["connects", number(p.connects)],
    ["drops", number(p.drops)], ["page errors", number(p.client_errors)]];
  const rows = found.events.map((event) => h("tr", {class: `kind-${event.kind}`}, h("td", {}, time(event.t_ns)),
    h("td", {}, event.kind), h("td", {class: "message"}, describe(event))));
  box.replaceChildren(
    h("header", {}, h("h3", {}, who), h("button", {class: "link", onclick: () => box.close()}, "Close")),
    h("dl", {}, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    ["here", "waiting", "away"].includes(p.state) ? ending(experiment, who, endings) : null,
    table(["when", "what", "detail"], rows));
}
