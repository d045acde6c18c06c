"""An in-memory Kubernetes API for tests: kmock's KubernetesEmulator with fix-ups, served from a thread.

Emulated (enough for kopf, `kubectl apply/get/wait/delete` and the official `kubernetes` client):
discovery (/api, /apis, groups, versions; builtins from kmock's bundled K3s list plus the CRDs
registered from their YAML), create / get / list / merge-patch / JSON-patch / delete of any
namespaced object, `uid`, `resourceVersion`, `generation` (bumped when `spec` changes),
`creationTimestamp`, the `status` subresource, finalizers and `deletionTimestamp`, label and
field selectors, watches (resourceVersion, timeoutSeconds, WatchList bookmarks), garbage
collection through `ownerReferences`, `meta.k8s.io/v1 Table` answers with the CRD's printer
columns for `kubectl get`, and `201 Created` for a create (kmock answers 200, for which the
official client's typed create of a custom object returns None).

Authenticated as a real API server is: served over TLS with a certificate from a CA made at test
time (k8s_credentials.py), a request gets 401 unless it carries the cluster's bearer token or came
over a connection whose client certificate the CA signed (a certificate from any other CA fails the
TLS handshake). The official client, kopf and kubectl all reach it through a kubeconfig.

Not emulated: no scheduler, no kubelet, no controllers (nothing creates Pods, EndpointSlices or
ReplicaSets, nothing fills in a StatefulSet's status: tests play the StatefulSet controller by
patching `.../statefulsets/NAME/status` and creating Pod objects themselves); no admission
webhooks, no defaulting, no validation against the CRD schema or OpenAPI (`kubectl apply` needs
`--validate=false`); no server-side apply (415), no PUT, no strategic merge (lists are replaced);
no RBAC; a no-op patch still bumps resourceVersion;
`propagationPolicy` is ignored (garbage collection always cascades, in the background).
Relies on kmock 0.8 internals (`kmock._internal`, `_lock`, `_buses`): the version is pinned.
The stateless parts (selectors, Table answers) are in k8s_views.py.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import attrs
import jsonpatch
import kmock
import yaml
from k8s_credentials import ClusterCredentials, TLSServer, token_user, write_kubeconfig
from k8s_views import as_table, match_fields, match_labels, now
from kmock._internal import dicts, enums, rendering

CRD_PATH = Path(__file__).resolve().parents[1] / "charts" / "gymkube" / "crds" / "experiments.gymkube.io.yaml"
VERBS = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]
T = TypeVar("T")


HISTORY = 64
"""Requests kmock keeps for its own matching (see GymkubeEmulator._handle)."""


@attrs.define(kw_only=True)
class GymkubeEmulator(kmock.KubernetesEmulator):
    """kmock's emulator with the fix-ups kopf and kubectl need (see the module docstring)."""

    token: str  # the one bearer token accepted (besides client certificates the cluster's CA signed)
    calls: list[tuple[str, str]] = attrs.field(factory=list, init=False)  # (method, path?query), in order
    _versions: Iterator[int] = attrs.field(factory=lambda: itertools.count(1), init=False)
    _columns: dict[kmock.resource, list[dict[str, Any]]] = attrs.field(factory=dict, init=False)

    def next_version(self) -> str:
        """A new resourceVersion, increasing over the whole emulator like etcd's revision."""
        return str(next(self._versions))

    def kind(self, resource: kmock.resource) -> str:
        """The kind served for a resource."""
        info = self.resources[resource] if resource in self.resources else None
        return (info.kind if info is not None else None) or resource.plural.capitalize()

    @staticmethod
    def api_version(resource: kmock.resource) -> str:
        """`group/version`, or just `v1` for the core group."""
        return f"{resource.group}/{resource.version}" if resource.group else resource.version

    def load_crd(self, path: Path = CRD_PATH) -> None:
        """Register every CustomResourceDefinition in a YAML file (names, scope, subresources, columns)."""
        for document in yaml.safe_load_all(path.read_text()):
            if not document or document.get("kind") != "CustomResourceDefinition":
                continue
            spec, names = document["spec"], document["spec"]["names"]
            for version in spec["versions"]:
                resource = kmock.resource(spec["group"], version["name"], names["plural"])
                self.resources[resource] = kmock.ResourceInfo(
                    kind=names["kind"],
                    singular=names.get("singular"),
                    namespaced=spec["scope"] == "Namespaced",
                    shortnames=names.get("shortNames", []),
                    subresources=list(version.get("subresources", {})),
                    verbs=VERBS,
                )
                self._columns[resource] = version.get("additionalPrinterColumns", [])

    def _authenticate(self, request: rendering.Request) -> None:
        """401 unless the connection's client certificate was verified or the request has the token."""
        raw = request._raw_request
        transport = raw.transport if raw is not None else None
        if transport is not None and transport.get_extra_info("peercert"):
            return  # the TLS handshake verified it against the cluster's CA
        scheme, _, token = (raw.headers.get("Authorization", "") if raw is not None else "").partition(" ")
        if scheme.lower() == "bearer" and token == self.token:  # the scheme in any case, as kube-apiserver
            return
        raise kmock.KubernetesError(status=401, reason="Unauthorized", message="Unauthorized")

    async def _handle(self, request: rendering.Request) -> Any:
        resource, data = request.resource, request.data
        # kmock keeps every request and, to match the next one, scans the whole history once per
        # reaction: a burst of thousands of requests turns quadratic. No test asserts on kmock's
        # history, so keep only recent requests (enough for every request still in flight).
        if len(self._requests) > HISTORY:
            del self._requests[:-HISTORY]
        self._authenticate(request)
        self.calls.append((request.method.value, request.url.path_qs))
        if resource is not None and resource.plural and request.action == enums.action.CREATE:
            if isinstance(data, dict):
                self._fill_in_created(request, data)
        elif resource is not None and request.name and request.action == enums.action.UPDATE:
            await self._stamp_update(request)
        elif resource is not None and request.name and request.action == enums.action.DELETE:
            await self._mark_deleted(request)
        response = await super()._handle(request)
        if resource is not None and request.name and request.action in (enums.action.DELETE, enums.action.UPDATE):
            await self._collect_garbage()
        if request.action == enums.action.CREATE and response.status == 200 and not response.prepared:
            response.set_status(201)  # see the module docstring
        return response

    def _fill_in_created(self, request: rendering.Request, data: dict[str, Any]) -> None:
        resource = request.resource
        meta = data.setdefault("metadata", {})
        if meta.get("generateName") and not meta.get("name"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if request.namespace:
            meta["namespace"] = request.namespace
        meta.update(
            uid=str(uuid.uuid4()),
            resourceVersion=self.next_version(),
            generation=1,
            creationTimestamp=now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        data.setdefault("apiVersion", self.api_version(resource))
        data.setdefault("kind", self.kind(resource))

    async def _stamp_update(self, request: rendering.Request) -> None:
        """Give a patch a new resourceVersion, and a new generation when it changes the spec."""
        if "apply-patch" in request.headers.get("Content-Type", ""):
            raise kmock.KubernetesError(status=415, reason="UnsupportedMediaType", message="no server-side apply")
        key = (request.resource, request.namespace, request.name)
        async with self._lock:
            if key not in self.objects or self.objects[key].deleted:
                return
            old = self.objects[key].raw
        data = request.data
        try:
            new = dicts.patch_dict(old, data)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            # kopf tests resourceVersion in its JSON patches and retries on 422, not on 500.
            raise kmock.KubernetesError(status=422, reason="Invalid", message=str(exc)) from None
        stamp = {"resourceVersion": self.next_version()}
        if request.subresource != "status" and new.get("spec") != old.get("spec"):
            stamp["generation"] = old["metadata"].get("generation", 1) + 1
        if isinstance(data, list):
            data.extend({"op": "add", "path": f"/metadata/{k}", "value": v} for k, v in stamp.items())
        elif isinstance(data, dict):
            data["metadata"] = {**(data.get("metadata") or {}), **stamp}

    async def _mark_deleted(self, request: rendering.Request) -> None:
        """An object with finalizers only gets a deletionTimestamp, under a new resourceVersion."""
        key = (request.resource, request.namespace, request.name)
        async with self._lock:
            if key not in self.objects or self.objects[key].deleted:
                return
            obj = self.objects[key]
            if obj["metadata"].get("finalizers") and not obj["metadata"].get("deletionTimestamp"):
                obj.patch(
                    {"metadata": {"deletionTimestamp": now().isoformat(), "resourceVersion": self.next_version()}}
                )
                await self._buses[request.resource].put({"type": "MODIFIED", "object": obj.raw})

    async def _collect_garbage(self) -> None:
        """Delete (or mark, when they have finalizers) objects whose owners are all gone."""
        async with self._lock:
            alive = {obj["metadata"].get("uid") for _, obj in self.objects.items() if not obj.deleted}
            for (resource, _, _), obj in list(self.objects.items()):
                owners = [] if obj.deleted else [ref.get("uid") for ref in obj["metadata"].get("ownerReferences") or []]
                if not owners or any(uid in alive for uid in owners):
                    continue
                if not obj["metadata"].get("finalizers"):
                    raw = obj.raw
                    obj.delete()
                    await self._buses[resource].put({"type": "DELETED", "object": raw})
                elif not obj["metadata"].get("deletionTimestamp"):
                    stamp = {"deletionTimestamp": now().isoformat(), "resourceVersion": self.next_version()}
                    obj.patch({"metadata": stamp})
                    await self._buses[resource].put({"type": "MODIFIED", "object": obj.raw})

    async def _serve_version(self, request: rendering.Request) -> Any:
        result = await super()._serve_version(request)
        result["groupVersion"] = result["groupVersion"].lstrip("/")  # kmock says "/v1" for the core group
        for entry in result["resources"]:
            entry["namespaced"] = bool(entry["namespaced"])
            if "/" in entry["name"]:  # a subresource: else `kubectl get gx` "could also match experiments/status"
                entry.update(shortNames=[], categories=[], singularName="")
        return result

    async def _serve_list(self, request: rendering.Request) -> Any:
        result = await super()._serve_list(request)
        labels, fields = request.params.get("labelSelector"), request.params.get("fieldSelector")
        items = [
            o for o in result["items"] if match_labels(labels, o["metadata"].get("labels")) and match_fields(fields, o)
        ]
        version = self.next_version()
        return self._as_table(request, items, version) or {
            "apiVersion": self.api_version(request.resource),
            "kind": self.kind(request.resource) + "List",
            "metadata": {"resourceVersion": version},
            "items": items,
        }

    async def _serve_fetch(self, request: rendering.Request) -> Any:
        obj = await super()._serve_fetch(request)
        return self._as_table(request, [obj], obj["metadata"].get("resourceVersion", "")) or obj

    def _as_table(self, request: rendering.Request, items: list[dict[str, Any]], version: str) -> Any:
        """A Table when `kubectl get` asks for one (`Accept: ...;as=Table`), else None."""
        if "as=Table" not in request.headers.get("Accept", ""):
            return None
        return as_table(self._columns.get(request.resource) or [], items, version)

    def _serve_watch(self, request: rendering.Request) -> Any:  # type: ignore[override]
        # Synchronous on purpose (kmock registered the bound method at init); the Response sets
        # the JSON content type that kopf and kubectl expect (kmock streams octet-stream).
        return rendering.Response(headers={"Content-Type": "application/json"}, payload=self._watch(request))

    async def _watch(self, request: rendering.Request) -> AsyncIterator[Any]:
        resource, namespace, name, params = request.resource, request.namespace, request.name, request.params
        since = int(params.get("resourceVersion") or 0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(params["timeoutSeconds"]) if params.get("timeoutSeconds") else None

        def wanted(obj: dict[str, Any]) -> bool:
            meta = obj.get("metadata", {})
            return (
                (namespace is None or meta.get("namespace") == namespace)
                and (name is None or meta.get("name") == name)
                and match_labels(params.get("labelSelector"), meta.get("labels"))
                and match_fields(params.get("fieldSelector"), obj)
            )

        bus = self._buses[resource]
        mark = await bus.mark()  # before the snapshot, so that no event falls in between
        try:
            yield b""  # send the headers now
            async with self._lock:
                snapshot = [o.raw for (r, _, _), o in self.objects.items() if r == resource and not o.deleted]
            for obj in snapshot:
                if wanted(obj) and int(obj["metadata"].get("resourceVersion") or 0) > since:
                    yield {"type": "ADDED", "object": obj}
            if params.get("sendInitialEvents") == "true":  # WatchList: `kubectl wait` waits for this bookmark
                end = {"resourceVersion": self.next_version(), "annotations": {"k8s.io/initial-events-end": "true"}}
                yield {"type": "BOOKMARK",
                       "object": {"apiVersion": self.api_version(resource), "kind": self.kind(resource),
                                  "metadata": end}}  # fmt: skip
            stream = bus.stream(since=mark)
            while True:
                timeout = None if deadline is None else max(0.0, deadline - loop.time())
                try:
                    event = await asyncio.wait_for(anext(stream), timeout)
                except TimeoutError:
                    return
                if wanted(event.get("object", {})):
                    yield event
        finally:
            await bus.unmark(mark)


class ApiError(Exception):
    """The emulated API server answered with an error status."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"{status}: {body[:500]}")
        self.status = status


class EmulatedCluster:
    """A GymkubeEmulator with the gymkube CRD, served on 127.0.0.1 from its own thread and event loop.

    kopf's KopfRunner, kubectl and the tests all talk to it over HTTPS with its credentials
    (`kubeconfig` holds its token; `write_kubeconfig_for` writes others); the sync helpers take
    API paths such as `/apis/apps/v1/namespaces/default/statefulsets/gx-cartpole`.
    """

    def __init__(self, kubeconfig: Path, crd_path: Path = CRD_PATH) -> None:
        self.credentials = ClusterCredentials.generate()
        self.emulator = GymkubeEmulator(token=self.credentials.token)  # NB: falsy until it serves requests
        with warnings.catch_warnings():  # kmock 0.8 reads its bundled list with a deprecated call
            warnings.simplefilter("ignore", DeprecationWarning)
            self.emulator.resources.load_bundled()
        self.emulator.load_crd(crd_path)
        self.kubeconfig = kubeconfig
        self._kubeconfigs = itertools.count(1)
        self._tls = self.credentials.client_context()
        self.url = ""
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True, name="k8s-emulator")

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        server_cls = functools.partial(TLSServer, tls=self.credentials.server_context(self.kubeconfig.parent))
        async with self.emulator, kmock.Server(self.emulator, server_cls=server_cls) as server:
            self.url = str(server.url).rstrip("/")
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> EmulatedCluster:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the Kubernetes emulator did not start")
        self.write_kubeconfig_for(token_user(self.credentials.token), self.kubeconfig)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def write_kubeconfig_for(self, user: dict[str, Any], path: Path | None = None) -> Path:
        """A kubeconfig for this server (trusting its CA) with `user`'s credentials, namespace `default`."""
        path = path or self.kubeconfig.with_name(f"kubeconfig-{next(self._kubeconfigs)}")
        return write_kubeconfig(path, self.url, self.credentials.authority.cert_pem, user)

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        """One API call; the decoded JSON answer (ApiError for 4xx and 5xx)."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": content_type, "Authorization": f"Bearer {self.credentials.token}"}
        request = urllib.request.Request(self.url + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10, context=self._tls) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            raise ApiError(exc.code, exc.read().decode(errors="replace")) from None

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST an object to its collection path."""
        created: dict[str, Any] = self.request("POST", path, body)
        return created

    def get(self, path: str) -> dict[str, Any] | None:
        """The object at path, or None when there is none."""
        try:
            found: dict[str, Any] = self.request("GET", path)
            return found
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """A merge patch (append `/status` to the path for the status)."""
        patched: dict[str, Any] = self.request("PATCH", path, body, "application/merge-patch+json")
        return patched

    def list(self, path: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        """The items of a collection, optionally filtered by labels."""
        query = "?" + urllib.parse.urlencode({"labelSelector": label_selector}) if label_selector else ""
        return list(self.request("GET", path + query)["items"])

    def delete(self, path: str) -> None:
        """DELETE (an object with finalizers only gets its deletionTimestamp)."""
        self.request("DELETE", path)

    def inspect(self, read: Callable[[GymkubeEmulator], T]) -> T:
        """Run `read(emulator)` in the server's loop under its lock: a thread-safe look at `.objects`."""

        async def locked() -> T:
            async with self.emulator._lock:
                return read(self.emulator)

        return asyncio.run_coroutine_threadsafe(locked(), self._loop).result(10)
