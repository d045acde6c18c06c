"""The control plane fuzzed from its own OpenAPI schema (schemathesis), and its participant entry with junk queries.

Properties: no route answers 500, whatever it is sent, with or without a researcher's token; no
route of the researcher API (or the admin's data) answers 2xx without a valid token; the entry
answers a query it cannot use with a 4xx page, and never takes an id with control characters.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import schemathesis
from conftest import quick_manifest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gymkube.tokens import is_participant_id

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
PUBLIC = {"/x/{name}", "/x/{name}/go", "/healthz", "/admin", "/admin/login"}
"""Routes anyone may call: the participant entry, the health check, the admin's login page."""
REAL = "cartpole"
ZIP_LIKE = st.binary(max_size=2000) | st.binary(max_size=200).map(lambda b: b"PK\x03\x04" + b)
"""Bundle uploads: random bytes, some starting like a zip."""
schemathesis.openapi.media_type("application/zip", ZIP_LIKE)


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize="FUZZ_EXAMPLES" not in os.environ,
        suppress_health_check=list(HealthCheck),
    )


def test_no_route_answers_500_or_serves_a_stranger(platform_factory, tmp_path: Path):
    platform = platform_factory(quick_manifest(tmp_path, "cartpole.yaml"))
    token = platform.token("fuzzer")
    schema = schemathesis.openapi.from_url(f"{platform.base}/openapi.json")
    problems: list[str] = []
    answered: Counter[tuple[str, int]] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/api/v1/experiments", "/api/v1/experiments/{name}/data/{table}"}

    for operation in operations:
        # Half the cases name the experiment that exists, so authorised calls reach its data (it is not deleted).
        real = operation.method.upper() != "DELETE" and "{name}" in operation.path

        @fuzz_settings(EXAMPLES)
        @given(case=operation.as_strategy(), existing=st.booleans() if real else st.just(False))
        def probe(case: Any, existing: bool) -> None:
            if existing:
                case.path_parameters = {**(case.path_parameters or {}), "name": REAL}
            for who, headers in (("stranger", {}), ("forger", {"Authorization": "Bearer gk_forged"}),
                                 ("researcher", {"Authorization": f"Bearer {token}"})):  # fmt: skip
                response = case.call(base_url=platform.base, headers=headers, timeout=30, allow_redirects=False)
                where = f"{case.method} {case.formatted_path} as {who}"
                answered[who, response.status_code // 100] += 1
                if response.status_code >= 500:
                    problems.append(f"{where}: {response.status_code} {response.text[:200]}")
                if who != "researcher" and case.path not in PUBLIC and 200 <= response.status_code < 300:
                    problems.append(f"{where}: {response.status_code} without a valid token")

        probe()
    assert not problems, "\n".join(sorted(set(problems))[:30])
    assert answered["researcher", 2] > len(operations), f"the token reached the routes: {answered}"
    log = platform.log_path.read_text()
    assert "Traceback" not in log, log[-3000:]


junk = st.text(max_size=30) | st.sampled_from(["²", "１２", "9" * 40, "\n", "a\nb", "x\x00", "%ff", "-1", "1e9", "٣٤"])


def test_the_entry_answers_junk_queries_with_a_4xx_page_never_a_500(platform_factory, tmp_path: Path):
    platform = platform_factory(quick_manifest(tmp_path, "cartpole.yaml"))
    statuses: list[int] = []
    with httpx.Client(base_url=platform.base, timeout=30) as client:

        @fuzz_settings(4 * EXAMPLES)
        @given(
            query=st.dictionaries(st.sampled_from(["PROLIFIC_PID", "sw", "sh", "STUDY_ID", "t"]) | st.text(max_size=8),
                                  junk, max_size=5),
            path=st.sampled_from([f"/x/{REAL}", f"/x/{REAL}/go"]),
        )  # fmt: skip
        def enter(query: dict[str, str], path: str) -> None:
            client.cookies.clear()
            response = client.get(path, params=query)
            assert response.status_code < 500, (path, query, response.text[:300])
            statuses.append(response.status_code)
            pid = query.get("PROLIFIC_PID")
            if pid and not is_participant_id(pid):
                assert response.status_code == 400, (query, response.status_code)

        enter()
    assert any(s in (200, 303) for s in statuses) and 400 in statuses


def test_a_participant_id_with_a_trailing_newline_is_refused(platform_factory, tmp_path: Path):
    platform = platform_factory(quick_manifest(tmp_path, "cartpole.yaml"))
    with httpx.Client(base_url=platform.base, timeout=30) as client:
        assert client.get(f"/x/{REAL}", params={"PROLIFIC_PID": "abc\n"}).status_code == 400
        assert client.get(f"/x/{REAL}", params={"PROLIFIC_PID": "abc"}).status_code == 303


def test_an_id_in_the_url_does_not_take_over_a_browser_whose_signed_cookie_names_another(
    platform_factory, tmp_path: Path
):
    platform = platform_factory(quick_manifest(tmp_path, "cartpole.yaml"))
    with httpx.Client(base_url=platform.base, timeout=30) as browser:
        first = browser.get(f"/x/{REAL}", params={"PROLIFIC_PID": "alice"})
        assert first.status_code == 303
        cookie = browser.cookies.get(f"gymkube_participant_{REAL}")
        assert cookie and "alice" not in cookie, "the cookie is a signed token, not the bare id"
        assert browser.get(f"/x/{REAL}", params={"PROLIFIC_PID": "alice"}).status_code == 303, "alice again: fine"
        other = browser.get(f"/x/{REAL}", params={"PROLIFIC_PID": "mallory"})
        assert other.status_code == 409 and "another participant" in other.text
        assert browser.get(f"/x/{REAL}").status_code == 303, "without an id in the URL, the cookie says who"
    with httpx.Client(base_url=platform.base, timeout=30) as fresh:
        fresh.cookies.set(f"gymkube_participant_{REAL}", "alice")  # an unsigned (forged) cookie is ignored
        assert fresh.get(f"/x/{REAL}", params={"PROLIFIC_PID": "mallory"}).status_code == 303
