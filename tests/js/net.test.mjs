// Tests for gymkube/static/js/net.js helpers that need no server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { socketPath } from "../../gymkube/static/js/net.js";

test("the socket.io path sits next to the page", () => {
  assert.equal(socketPath("/"), "/socket.io");
  assert.equal(socketPath("/myexp/pod-0/"), "/myexp/pod-0/socket.io");
  assert.equal(socketPath("/myexp/pod-0/index.html"), "/myexp/pod-0/socket.io");
});
