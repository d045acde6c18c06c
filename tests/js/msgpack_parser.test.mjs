// Tests for gymkube/static/js/msgpack_parser.js: round trips, bad input, and interop with python-socketio.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, existsSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Encoder, Decoder, PacketType, protocol } from "../../gymkube/static/js/msgpack_parser.js";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));

function roundTrip(packet) {
  const chunks = new Encoder().encode(packet);
  assert.equal(chunks.length, 1);
  assert.ok(chunks[0] instanceof Uint8Array);
  const decoder = new Decoder();
  const got = [];
  decoder.on("decoded", (p) => got.push(p));
  decoder.add(chunks[0]);
  assert.equal(got.length, 1);
  return got[0];
}

function decodeOne(bytes) {
  const decoder = new Decoder();
  let got;
  decoder.on("decoded", (p) => { got = p; });
  decoder.add(bytes);
  return got;
}

// Expected packets in the fixture write bytes as {"$bytes": base64}.
function revive(value) {
  if (Array.isArray(value)) return value.map(revive);
  if (value && typeof value === "object") {
    if (typeof value.$bytes === "string") return new Uint8Array(Buffer.from(value.$bytes, "base64"));
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, revive(v)]));
  }
  return value;
}

test("exports what socket.io-client expects of a parser", () => {
  assert.equal(protocol, 5);
  assert.equal(PacketType.CONNECT, 0);
  assert.equal(PacketType.CONNECT_ERROR, 4);
  assert.equal(typeof new Decoder().destroy, "function");
});

test("CONNECT round trip, with and without auth data", () => {
  const auth = { token: "abc", client: { screen: [1920, 1080], lang: "en-GB" } };
  assert.deepEqual(roundTrip({ type: 0, nsp: "/", data: auth }), { type: 0, nsp: "/", data: auth });
  assert.deepEqual(roundTrip({ type: 0, nsp: "/" }), { type: 0, nsp: "/" });
});

test("EVENT with binary data keeps the bytes", () => {
  const img = new Uint8Array([0, 1, 2, 250, 255]);
  const out = roundTrip({ type: 2, nsp: "/", data: ["state", { img, f: 3, t: 1767225600123.5 }] });
  assert.equal(out.type, 2);
  assert.ok(out.data[1].img instanceof Uint8Array);
  assert.deepEqual([...out.data[1].img], [...img]);
  assert.equal(out.data[1].t, 1767225600123.5);
  assert.equal(out.id, undefined);
});

test("ACK keeps its id; undefined id/data keys are left out of the wire map", () => {
  assert.deepEqual(roundTrip({ type: 3, nsp: "/", id: 12, data: [{ ok: true }] }),
    { type: 3, nsp: "/", id: 12, data: [{ ok: true }] });
  const [bytes] = new Encoder().encode({ type: 1, nsp: "/", options: { compress: true } });
  // fixmap of 2 entries (type, nsp): no id, no data, no client-side options.
  assert.equal(bytes[0], 0x82);
});

test("invalid payloads throw cleanly and emit nothing", () => {
  const cases = [
    "2[\"not\",\"binary\"]",
    new Uint8Array([0xc1]), // never-used msgpack byte
    new Uint8Array([]),
    new Encoder().encode({ type: 9, nsp: "/", data: [] })[0],
    new Encoder().encode({ type: 2, nsp: "/", data: { not: "an array" } })[0],
    new Encoder().encode({ type: 2, nsp: 5, data: [] })[0],
    new Encoder().encode({ type: 3, nsp: "/", id: "x", data: [] })[0],
    new Uint8Array([0x93, 1, 2, 3]), // an array, not a map
  ];
  for (const c of cases) {
    const decoder = new Decoder();
    let emitted = false;
    decoder.on("decoded", () => { emitted = true; });
    assert.throws(() => decoder.add(c), Error);
    assert.equal(emitted, false);
  }
});

test("accepts ArrayBuffer chunks as engine.io delivers them", () => {
  const [bytes] = new Encoder().encode({ type: 2, nsp: "/", data: ["notice", { text: "hi" }] });
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  assert.deepEqual(decodeOne(ab), { type: 2, nsp: "/", data: ["notice", { text: "hi" }] });
});

test("decodes packets encoded by python-socketio's msgpack serializer", () => {
  const fixtures = JSON.parse(readFileSync(here("./fixtures/python_packets.json"), "utf8"));
  assert.ok(fixtures.length >= 5);
  for (const { name, b64, expect } of fixtures) {
    const got = decodeOne(new Uint8Array(Buffer.from(b64, "base64")));
    assert.deepEqual(got, revive(expect), name);
  }
});

const python = here("../../.venv/bin/python");
test("python-socketio decodes what the Encoder writes", { skip: !existsSync(python) && "no venv" }, () => {
  const packets = [
    { type: 0, nsp: "/", data: { token: "t0k", client: { screen: [800, 600] } } },
    { type: 2, nsp: "/", data: ["input", { s: 1, k: "ArrowLeft", d: true, t: 1767225600123.25, f: 9 }] },
    { type: 2, nsp: "/", id: 4, data: ["scene_done", { scene: "s1", answers: { q: ["a", "b"] } }] },
    { type: 3, nsp: "/", id: 2, data: [] },
    { type: 1, nsp: "/" },
  ];
  const b64 = packets.map((p) => Buffer.from(new Encoder().encode(p)[0]).toString("base64"));
  const script = [
    "import base64, json, sys",
    "from socketio.msgpack_packet import MsgPackPacket",
    "out = []",
    "for b in json.load(sys.stdin):",
    "    p = MsgPackPacket(encoded_packet=base64.b64decode(b))",
    "    out.append({'type': p.packet_type, 'nsp': p.namespace, 'data': p.data, 'id': p.id})",
    "print(json.dumps(out))",
  ].join("\n");
  const r = spawnSync(python, ["-c", script], { input: JSON.stringify(b64), encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout);
  packets.forEach((p, i) => {
    assert.deepEqual(got[i], { type: p.type, nsp: p.nsp, data: p.data ?? null, id: p.id ?? null });
  });
});
