"""Remote values -> Secret data, and the HMAC that seals it."""

from __future__ import annotations

import pytest

from scaivault_federation.models.content import InvalidContentError, to_secret_data
from scaivault_federation.sync.mac import compute_mac, mac_matches


def test_object_of_scalars_becomes_one_key_per_field() -> None:
    data = to_secret_data({"user": "u", "port": 5432, "tls": True, "none": None})
    assert data == {"user": b"u", "port": b"5432", "tls": b"true", "none": b""}


def test_json_string_object_becomes_keys() -> None:
    assert to_secret_data('{"a": "1", "b": 2}') == {"a": b"1", "b": b"2"}


def test_nested_object_is_stored_whole() -> None:
    data = to_secret_data({"a": {"b": 1}})
    assert list(data) == ["value"] and b'"b": 1' in data["value"]


def test_plain_string_and_json_array_are_stored_whole() -> None:
    assert to_secret_data("hunter2") == {"value": b"hunter2"}
    assert to_secret_data("[1, 2]") == {"value": b"[1, 2]"}
    assert to_secret_data("{}") == {"value": b"{}"}


def test_binary_stays_bytes() -> None:
    blob = bytes(range(256))
    assert to_secret_data(blob) == {"value": blob}


def test_invalid_key_is_rejected_without_the_value() -> None:
    with pytest.raises(InvalidContentError) as caught:
        to_secret_data({"bad key": "canary-value-91"})
    assert "bad key" in str(caught.value) and "canary-value-91" not in str(caught.value)


def test_over_one_mebibyte_is_rejected() -> None:
    with pytest.raises(InvalidContentError, match="1 MiB"):
        to_secret_data(b"x" * (1024 * 1024 + 1))


def test_mac_depends_on_key_path_and_data_and_is_not_a_plain_digest() -> None:
    data = {"a": b"1"}
    mac = compute_mac(b"k1", "p", data)
    assert mac.startswith("hmac-sha256:")
    assert mac != compute_mac(b"k2", "p", data)
    assert mac != compute_mac(b"k1", "q", data)
    assert mac != compute_mac(b"k1", "p", {"a": b"2"})
    # item boundaries are unambiguous
    assert compute_mac(b"k", "p", {"ab": b"c"}) != compute_mac(b"k", "p", {"a": b"bc"})
    assert mac_matches(b"k1", "p", data, mac)
    assert not mac_matches(b"k1", "p", data, None)
