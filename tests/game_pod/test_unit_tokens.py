"""Participant tokens: the entry signs them, game pods accept only genuine ones."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest

from gymkube.tokens import (
    DEFAULT_LIFETIME_S,
    MAX_TOKEN_CHARS,
    TokenError,
    TokenExpired,
    is_participant_id,
    sign_token,
    verify_token,
)

SECRET = "s3cret-for-tests"
CLAIMS = {"x": "forage-ai", "p": "participant-1", "s": "session-1"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_signed_token_verifies_and_gives_back_its_claims():
    claims = verify_token(SECRET, sign_token(SECRET, CLAIMS), "forage-ai")
    assert {k: claims[k] for k in CLAIMS} == CLAIMS
    assert isinstance(claims["iat"], int) and claims["iat"] > 0


def test_a_token_with_a_changed_body_is_refused():
    body, mac = sign_token(SECRET, CLAIMS).split(".")
    forged = b64(json.dumps({**CLAIMS, "p": "someone-else", "iat": 1}).encode())
    with pytest.raises(TokenError):
        verify_token(SECRET, f"{forged}.{mac}", "forage-ai")


def test_a_token_with_a_changed_signature_is_refused():
    body, mac = sign_token(SECRET, CLAIMS).split(".")
    flipped = ("B" if mac[0] == "A" else "A") + mac[1:]
    with pytest.raises(TokenError):
        verify_token(SECRET, f"{body}.{flipped}", "forage-ai")
    with pytest.raises(TokenError):
        verify_token(SECRET, f"{body}.", "forage-ai")


def test_a_token_signed_with_another_secret_is_refused():
    with pytest.raises(TokenError):
        verify_token(SECRET, sign_token("another-secret", CLAIMS), "forage-ai")


def test_a_token_for_another_experiment_is_refused():
    with pytest.raises(TokenError, match="another experiment"):
        verify_token(SECRET, sign_token(SECRET, CLAIMS), "cartpole")


@pytest.mark.parametrize("missing", ["p", "s"])
def test_a_genuine_token_without_a_participant_or_session_is_refused(missing):
    claims = {k: v for k, v in CLAIMS.items() if k != missing}
    with pytest.raises(TokenError, match="participant"):
        verify_token(SECRET, sign_token(SECRET, claims), "forage-ai")


def test_an_oversize_token_is_refused_before_it_is_checked():
    token = sign_token(SECRET, {**CLAIMS, "pad": "x" * MAX_TOKEN_CHARS})
    assert len(token) > MAX_TOKEN_CHARS
    with pytest.raises(TokenError, match="malformed"):
        verify_token(SECRET, token, "forage-ai")


@pytest.mark.parametrize("token", [None, 123, b"a.b", ["a", "b"], {"token": "a.b"}])
def test_a_token_that_is_not_a_string_is_refused(token):
    with pytest.raises(TokenError, match="malformed"):
        verify_token(SECRET, token, "forage-ai")


@pytest.mark.parametrize("token", ["", "no-dot", "a.b.c", ".", "!!!.???"])
def test_a_token_that_is_not_body_dot_signature_is_refused(token):
    with pytest.raises(TokenError):
        verify_token(SECRET, token, "forage-ai")


def test_a_token_past_its_lifetime_is_refused_as_expired_and_one_within_it_is_taken():
    week_ago = int(time.time()) - DEFAULT_LIFETIME_S - 60
    with pytest.raises(TokenExpired, match="expired"):
        verify_token(SECRET, sign_token(SECRET, {**CLAIMS, "iat": week_ago}), "forage-ai")
    hour_ago = int(time.time()) - 3600
    assert verify_token(SECRET, sign_token(SECRET, {**CLAIMS, "iat": hour_ago}), "forage-ai")["iat"] == hour_ago
    with pytest.raises(TokenExpired):
        verify_token(SECRET, sign_token(SECRET, {**CLAIMS, "iat": hour_ago}), "forage-ai", lifetime_s=1800)


@pytest.mark.parametrize("issued", [None, "yesterday", 1.5, True, 2**70, int(time.time()) + 3600])
def test_a_token_without_a_plausible_issue_time_is_refused(issued: object):
    body = b64(json.dumps({**CLAIMS, "x": "forage-ai", "iat": issued}).encode())
    mac = b64(hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).digest())
    with pytest.raises(TokenError, match="issue time"):
        verify_token(SECRET, f"{body}.{mac}", "forage-ai")


@pytest.mark.parametrize("participant", ["p1\n", "p 1", "p\x00", "", "x" * 129, "../p", 7])
def test_a_genuine_token_whose_participant_id_is_not_one_the_entry_issues_is_refused(participant: object):
    with pytest.raises(TokenError, match="participant"):
        verify_token(SECRET, sign_token(SECRET, {**CLAIMS, "p": participant}), "forage-ai")


def test_a_participant_id_is_letters_digits_and_a_few_marks_with_nothing_after_them():
    assert is_participant_id("5f3c-ab_cd.e@x") and not is_participant_id("abc\n") and not is_participant_id("a\r")
