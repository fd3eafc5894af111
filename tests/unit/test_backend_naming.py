"""The path <-> secret name rules of Azure Key Vault and Google Secret Manager."""

from __future__ import annotations

import random
import re

import pytest

from scaivault_federation.backends import InvalidBackendConfigError
from scaivault_federation.backends.azure.names import azure_name, azure_path
from scaivault_federation.backends.google.names import google_name, google_path
from scaivault_federation.backends.naming import UnmappablePathError

AZURE_NAME = re.compile(r"[0-9a-zA-Z-]{1,127}")
GOOGLE_NAME = re.compile(r"[0-9a-zA-Z_-]{1,255}")

# Characters that stress the rules: both structural characters, hex digits in
# both cases, other ASCII punctuation, multi-byte characters and a space.
ALPHABET = [*"aZ09AFfx-_.~ /", "é", "€", "😀", "ß", "\u200d"]


def random_path(rng: random.Random) -> str:
    segments = []
    for _ in range(rng.randint(1, 4)):
        while True:
            segment = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 8)))
            segment = segment.replace("/", "")
            if segment and segment not in (".", ".."):
                break
        segments.append(segment)
    return "/".join(segments)


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("db-password", "db-password"),
        ("apps/db/password", "apps--db--password"),
        ("app-db-password", "app-db-password"),
        ("Prod/API/Key1", "Prod--API--Key1"),
        ("api_key", "api-5F-key"),
        ("tls.crt", "tls-2E-crt"),
        ("a--b", "a-2D--2D-b"),
        ("-lead", "-2D-lead"),
        ("trail-", "trail-2D-"),
        ("v-10-x", "v-2D-10-x"),  # a plain "-" before "10-" would read as an escape
        ("a-AB/c", "a-2D-AB--c"),
        ("x/.hidden", "x---2E-hidden"),
        ("é", "-C3--A9-"),
        ("a b", "a-20-b"),
    ],
)
def test_azure_examples(path: str, name: str) -> None:
    assert azure_name(path) == name
    assert azure_path(name) == path


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("db-password", "db-password"),
        ("db_password", "db_password"),
        ("apps/db/password", "apps__db__password"),
        ("a__b", "a_5F__5F_b"),
        ("_lead", "_5F_lead"),
        ("tls.crt", "tls_2E_crt"),
        ("--", "--"),
        ("x/AB_c", "x__AB_c"),
        ("x_AB_c", "x_5F_AB_c"),
        ("é", "_C3__A9_"),
    ],
)
def test_google_examples(path: str, name: str) -> None:
    assert google_name(path) == name
    assert google_path(name) == path


def test_round_trip_over_many_generated_paths() -> None:
    rng = random.Random(20261129)
    seen_azure: dict[str, str] = {}
    seen_google: dict[str, str] = {}
    for _ in range(8000):
        path = random_path(rng)
        for encode, decode, pattern, seen in (
            (azure_name, azure_path, AZURE_NAME, seen_azure),
            (google_name, google_path, GOOGLE_NAME, seen_google),
        ):
            try:
                name = encode(path)
            except UnmappablePathError:
                continue  # too long for the store
            assert pattern.fullmatch(name), (path, name)
            assert decode(name) == path, (path, name)
            assert seen.setdefault(name, path) == path, "two paths share one name"


def test_names_that_already_contain_separators_round_trip() -> None:
    for path in ("a--b", "a----b/c--d", "x__y/z", "--/__", "-/-", "_/_", "a-/-b", "a_/_b"):
        assert azure_path(azure_name(path)) == path
        assert google_path(google_name(path)) == path


def test_every_short_name_decodes_to_none_or_back_to_itself() -> None:
    """Decoding then encoding is the identity on every name the rule accepts."""
    rng = random.Random(7)
    azure_chars = "aF0-"
    google_chars = "aF0-_"
    for _ in range(10000):
        name = "".join(rng.choice(azure_chars) for _ in range(rng.randint(1, 10)))
        path = azure_path(name)
        if path is not None:
            assert azure_name(path) == name
        name = "".join(rng.choice(google_chars) for _ in range(rng.randint(1, 10)))
        path = google_path(name)
        if path is not None:
            assert google_name(path) == name


@pytest.mark.parametrize(
    "name",
    [
        "a-2D-b",  # a "-" that would have been written plain
        "-41-",  # an escaped letter
        "-2e-",  # lower-case escape: read as plain text, then not canonical
        "a--",  # trailing separator: empty segment
        "--a",  # leading separator
        "a----b",  # empty segment
        "-2E-",  # the "." segment
        "-0A-",  # a control character
        "-C3-",  # truncated UTF-8
        "a_b",  # not in Key Vault's alphabet
        "",
        "x" * 128,
    ],
)
def test_foreign_azure_names_decode_to_none(name: str) -> None:
    assert azure_path(name) is None


@pytest.mark.parametrize("name", ["a_5F_b", "_2D_", "a__", "a.b", "_2E__2E_", ""])
def test_foreign_google_names_decode_to_none(name: str) -> None:
    assert google_path(name) is None


@pytest.mark.parametrize("path", ["", "a//b", "/a", "a/", "a/./b", "..", "a\nb", "a\x7fb"])
def test_invalid_paths_are_rejected(path: str) -> None:
    with pytest.raises(UnmappablePathError):
        azure_name(path)
    with pytest.raises(UnmappablePathError):
        google_name(path)


def test_length_limits() -> None:
    assert azure_name("a" * 127) == "a" * 127
    with pytest.raises(UnmappablePathError) as caught:
        azure_name("a" * 128)
    assert isinstance(caught.value, InvalidBackendConfigError)
    with pytest.raises(UnmappablePathError):
        azure_name("." * 32)  # 32 escapes of 4 characters
    assert google_name("a" * 255) == "a" * 255
    with pytest.raises(UnmappablePathError):
        google_name("a" * 256)
    assert azure_path("a" * 127) == "a" * 127
    assert google_path("a" * 256) is None
