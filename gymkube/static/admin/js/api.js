// The dashboard's requests: JSON from /admin/api, actions with the page's own header; signed out means reload.

const ACTION_HEADER = "X-Gymkube-Dashboard";

async function answer(reply) {
  if (reply.status === 401) {
    location.reload();  // the session ended: the server shows the sign-in form
    throw new Error("signed out");
  }
  const body = await reply.json().catch(() => ({}));
  if (!reply.ok) throw new Error(typeof body.detail === "string" ? body.detail : `the server answered ${reply.status}`);
  return body;
}

export async function get(path, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v !== null && v !== undefined));
  const url = `/admin/api/${path}${query.size ? `?${query}` : ""}`;
  return answer(await fetch(url, {cache: "no-store", credentials: "same-origin"}));
}

export async function post(path, body = {}) {
  return answer(await fetch(`/admin/api/${path}`, {
    method: "POST", credentials: "same-origin", cache: "no-store",
    headers: {"Content-Type": "application/json", [ACTION_HEADER]: "1"}, body: JSON.stringify(body),
  }));
}

export function experimentPath(name, rest = "") {
  return `experiments/${encodeURIComponent(name)}${rest}`;
}
