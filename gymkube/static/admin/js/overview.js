// The live parts of an experiment's view: counts, funnel, pods, waiting rooms, groups, errors.
import {duration, h, number, show, table, time} from "./dom.js";

const ENDINGS = {wait_timeout: "nobody came (wait timeout)", partner_left: "partner left", dropped: "away too long",
  excluded: "excluded", technical: "technical problem"};
export const endingName = (reason) => ENDINGS[reason] || reason;

function card(label, value, note) {
  return h("div", {class: "card"}, h("span", {class: "value"}, number(value)), h("span", {}, label),
    note ? h("span", {class: "muted"}, note) : null);
}

export function cards(view) {
  const f = view.funnel, states = f.states;
  const target = view.target ? `of ${number(view.target)} wanted` : null;
  const ended = Object.values(f.ended).reduce((a, b) => a + b, 0);
  show("cards", card("here now", view.live.participants, `${number(states.waiting)} waiting`),
    card("games running", view.live.games), card("entered", f.entered), card("completed", states.completed, target),
    card("ended early", ended), card("screened out", f.screened_out), card("away", states.away));
}

function bar(label, count, most, kind = "") {
  const share = most && count ? Math.max(0.5, (100 * count) / most) : 0;
  return h("div", {class: `funnel-row ${kind}`}, h("span", {class: "label"}, label),
    h("span", {class: "track"}, h("span", {class: "fill", "data-share": share.toFixed(1)})),
    h("span", {class: "count"}, number(count)));
}

export function funnel(view) {
  const f = view.funnel;
  const most = Math.max(1, f.entered + f.screened_out);
  const ended = Object.entries(f.ended).sort((a, b) => b[1] - a[1]);
  show("funnel", bar("entered", f.entered, most), bar("screened out", f.screened_out, most, "bad"),
    f.scenes.map((scene) => bar(`reached ${scene.scene}`, scene.reached, most)),
    bar("completed", f.states.completed, most, "good"),
    ended.map(([reason, count]) => bar(`ended: ${endingName(reason)}`, count, most, "bad")));
  // The policy allows no inline styles in markup: widths are set through the CSSOM.
  for (const fill of document.querySelectorAll("#funnel .fill")) fill.style.width = `${fill.dataset.share}%`;
}

function podState(pod) {
  if (!pod.alive) return h("span", {class: "bad"}, pod.unhealthy || "not answering");
  if (pod.writer_error) return h("span", {class: "bad"}, pod.writer_error);
  return h("span", {class: pod.draining ? "warn" : "good"}, pod.draining ? "draining" : "up");
}

export function pods(view) {
  const rows = view.pods.map((pod) => h("tr", {},
    h("td", {}, pod.pod), h("td", {}, podState(pod)),
    h("td", {}, pod.alive ? `${number(pod.participants)} / ${number(pod.capacity)}` : ""),
    h("td", {}, number(pod.games)), h("td", {}, number(pod.waiting)),
    h("td", {}, pod.tick_lateness_ms ? `${number(pod.tick_lateness_ms.p50, 1)} / ${number(pod.tick_lateness_ms.p99, 1)} ms` : ""),
    h("td", {}, number(pod.spooled_chunks)),
    h("td", {class: pod.storage_error ? "bad" : "good"}, pod.storage_error || "ok")));
  show("pods", rows.length ? table(["pod", "state", "here / capacity", "games", "waiting", "tick lateness p50 / p99",
    "spooled chunks", "storage"], rows) : h("p", {class: "muted"}, "No game pods yet."),
  view.errors.length ? h("details", {}, h("summary", {}, `${view.errors.length} recent pod errors`),
    h("ul", {}, view.errors.map((e) => h("li", {}, `${time(e.t_ns)} ${e.pod}: ${e.what}: ${e.detail}`)))) : null);
}

export function lobbies(view) {
  const rows = view.lobbies.map((room) => h("tr", {}, h("td", {}, room.scene), h("td", {}, room.pod),
    h("td", {}, `${room.waiting} of ${room.size}`), h("td", {}, duration(room.longest_wait_s))));
  show("lobbies", rows.length ? table(["scene", "pod", "waiting", "longest wait"], rows)
    : h("p", {class: "muted"}, "Nobody is waiting."));
}

export function groups(data) {
  const rows = data.recent.slice(0, 8).map((group) => h("tr", {}, h("td", {}, time(group.t_ns)), h("td", {}, group.scene),
    h("td", {}, group.members.map((m) => `${m.agent}: ${m.participant}`).join(", ")
      + (group.empty.length ? ` (+ AI in ${group.empty.join(", ")})` : "")),
    h("td", {}, duration(group.waited_s))));
  show("groups", rows.length ? table(["formed", "scene", "members", "longest wait"], rows)
    : h("p", {class: "muted"}, "No groups formed yet."),
  data.timeouts ? h("p", {class: "warn"}, `${number(data.timeouts)} waits ran out before a group formed.`) : null);
}

export function errors(data) {
  document.getElementById("error-total").textContent = data.total ? `(${number(data.total)})` : "";
  const common = data.common.map((e) => h("tr", {}, h("td", {class: "message"}, e.message), h("td", {}, number(e.count)),
    h("td", {}, number(e.participants))));
  const recent = data.recent.slice(0, 20).map((e) => h("tr", {}, h("td", {}, time(e.t_ns)),
    h("td", {}, h("a", {href: `#participant=${encodeURIComponent(e.participant)}`}, e.participant)),
    h("td", {class: "message"}, e.message)));
  show("errors", data.total ? [table(["message", "times", "participants"], common),
    h("details", {}, h("summary", {}, "Newest"), table(["when", "participant", "message"], recent))]
    : h("p", {class: "muted"}, "No page reported an error."));
}
