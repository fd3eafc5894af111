"""Paths, patterns, mappings and Secret names."""

from __future__ import annotations

import random
import time

import pytest

from scaivault_federation.paths import (
    MAX_PATH_LENGTH,
    InvalidPathError,
    PathMapping,
    PathPattern,
    is_valid_secret_name,
    parse_mapping,
    parse_mappings,
    paths_named,
    secret_name_for_path,
    validate_path,
)

# --- validate_path ---------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "a",
        "external/aws/db/password",
        "a/b/c/d/e/f/g",
        "with space/and_underscore/dots.in.name",
        "...x/x...",
        "-leading-dash/trailing-dash-",
        "Ünïcödé/日本語/пароль",
        "UPPER/Case",
        "a" * MAX_PATH_LENGTH,
        "/".join(["s"] * 512)[:MAX_PATH_LENGTH].rstrip("/"),
        "x@y+z=w,v",
    ],
)
def test_valid_paths(path: str) -> None:
    assert validate_path(path) == path


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("", "empty"),
        ("/a", "start with '/'"),
        ("a/", "end with '/'"),
        ("/", "start with '/'"),
        ("a//b", "empty segment"),
        ("a/./b", "'.' segment"),
        ("a/../b", "'..' segment"),
        ("..", "'..' segment"),
        (".", "'.' segment"),
        ("a/\x00b", "control character"),
        ("a/b\n", "control character"),
        ("a\tb", "control character"),
        ("a\x7fb", "control character"),
        ("a\x85b", "control character"),
        ("a\x9fb", "control character"),
        ("a/\ud800", "surrogate"),
        ("a/*", "wildcard"),
        ("a/**/b", "wildcard"),
        ("db-*", "wildcard"),
        ("a" * (MAX_PATH_LENGTH + 1), "longer than"),
        ("a/" * 600 + "a", "longer than"),
    ],
)
def test_invalid_paths(path: str, reason: str) -> None:
    with pytest.raises(InvalidPathError, match=reason):
        validate_path(path)


def test_invalid_path_error_is_value_error_and_bounded() -> None:
    long_path = "x" * 5000
    with pytest.raises(ValueError) as info:
        validate_path(long_path)
    assert len(str(info.value)) < 200
    with pytest.raises(InvalidPathError) as info2:
        validate_path("a/\x00")
    assert "\x00" not in str(info2.value)
    assert "\\x00" in str(info2.value)


def test_validate_path_rejects_non_string() -> None:
    with pytest.raises(InvalidPathError):
        validate_path(42)  # type: ignore[arg-type]


# --- PathPattern -----------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "captures"),
    [
        ("a/b", "a/b", ()),
        ("a/b", "a/c", None),
        ("a/b", "a/b/c", None),
        ("a/*", "a/b", ("b",)),
        ("a/*", "a", None),
        ("a/*", "a/b/c", None),
        ("*", "x", ("x",)),
        ("*/*", "x/y", ("x", "y")),
        ("a/**", "a", ("",)),
        ("a/**", "a/b", ("b",)),
        ("a/**", "a/b/c/d", ("b/c/d",)),
        ("a/**", "b/c", None),
        ("**", "x", ("x",)),
        ("**", "x/y/z", ("x/y/z",)),
        ("**/z", "z", ("",)),
        ("**/z", "x/y/z", ("x/y",)),
        ("**/z", "x/y", None),
        ("a/**/z", "a/z", ("",)),
        ("a/**/z", "a/b/z", ("b",)),
        ("a/**/z", "a/b/c/z", ("b/c",)),
        ("a/**/z", "a/b/c", None),
        ("a/*/c/**", "a/b/c", ("b", "")),
        ("a/*/c/**", "a/b/c/d/e", ("b", "d/e")),
        ("a/*/c/**", "a/b/x/d", None),
        ("a/**/m/*/**/z", "a/m/q/z", ("", "q", "")),
        ("a/**/m/*/**/z", "a/1/2/m/q/3/4/z", ("1/2", "q", "3/4")),
        ("a/**/m/*/**/z", "a/m/m/q/z", ("", "m", "q")),
        ("**/x/**", "x", ("", "")),
        ("**/x/**", "a/x/b/x/c", ("a", "b/x/c")),
        ("*/**/*", "a/b", ("a", "", "b")),
        ("*/**/*", "a", None),
        ("Ünïcödé/*", "Ünïcödé/日本", ("日本",)),
    ],
)
def test_pattern_match(pattern: str, path: str, captures: tuple[str, ...] | None) -> None:
    assert PathPattern(pattern).match(path) == captures


def test_match_rejects_malformed_path() -> None:
    with pytest.raises(InvalidPathError):
        PathPattern("a/**").match("a/../b")
    with pytest.raises(InvalidPathError):
        PathPattern("a/**").match("a/*")


@pytest.mark.parametrize(
    ("pattern", "literal_prefix", "wildcards"),
    [
        ("external/aws/**", "external/aws/", ("**",)),
        ("secret/data/**", "secret/data/", ("**",)),
        ("**", "", ("**",)),
        ("*/x", "", ("*",)),
        ("a/*/b/**", "a/", ("*", "**")),
        ("a/b", "a/b/", ()),
    ],
)
def test_pattern_properties(pattern: str, literal_prefix: str, wildcards: tuple[str, ...]) -> None:
    parsed = PathPattern(pattern)
    assert parsed.literal_prefix == literal_prefix
    assert parsed.wildcards == wildcards
    assert parsed.is_literal == (not wildcards)
    assert str(parsed) == pattern
    assert parsed == PathPattern.parse(pattern)
    assert hash(parsed) == hash(PathPattern(pattern))


def test_pattern_is_immutable() -> None:
    parsed = PathPattern("a/**")
    with pytest.raises(AttributeError):
        parsed._pattern = "b"


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("", "empty"),
        ("/a/**", "start with '/'"),
        ("a/**/", "end with '/'"),
        ("a//**", "empty segment"),
        ("a/../**", "'..' segment"),
        ("./**", "'.' segment"),
        ("db-**", "nothing between them"),
        ("a/**b", "nothing between them"),
        ("a/***", "whole segment"),
        ("a/b**c/d", "nothing between them"),
        ("a/**/**", "adjacent"),
        ("**/a/**/b/**/c/**/d/**", "more than 4"),
        ("a/\x01/**", "control character"),
        ("a" * (MAX_PATH_LENGTH + 1), "longer than"),
    ],
)
def test_invalid_patterns(pattern: str, reason: str) -> None:
    with pytest.raises(InvalidPathError, match=reason):
        PathPattern(pattern)


@pytest.mark.parametrize(
    ("pattern", "captures", "expected"),
    [
        ("prod/**", ("db/password",), "prod/db/password"),
        ("prod/**", ("",), "prod"),
        ("**/x", ("",), "x"),
        ("a/**/z", ("",), "a/z"),
        ("a/*/b/**", ("k", "l/m"), "a/k/b/l/m"),
        ("a/b", (), "a/b"),
    ],
)
def test_pattern_expand(pattern: str, captures: tuple[str, ...], expected: str) -> None:
    assert PathPattern(pattern).expand(captures) == expected


@pytest.mark.parametrize(
    ("pattern", "captures"),
    [
        ("prod/**", ()),
        ("prod/**", ("a", "b")),
        ("prod/*", ("a/b",)),
        ("prod/*", ("",)),
        ("prod/*", ("..",)),
        ("prod/**", ("a//b",)),
        ("prod/**", ("a/*",)),
        ("**", ("",)),
    ],
)
def test_pattern_expand_rejects(pattern: str, captures: tuple[str, ...]) -> None:
    with pytest.raises(InvalidPathError):
        PathPattern(pattern).expand(captures)


def test_match_expand_identity() -> None:
    pattern = PathPattern("a/**/m/*/**/z")
    for path in ["a/m/q/z", "a/1/m/q/2/z", "a/1/2/3/m/q/z", "a/m/q/4/5/z"]:
        captures = pattern.match(path)
        assert captures is not None
        assert pattern.expand(captures) == path


def test_matching_does_not_backtrack_exponentially() -> None:
    pattern = PathPattern("**/a/**/a/**/a/**/b")
    path = "/".join(["a"] * 500)
    start = time.perf_counter()
    assert pattern.match(path) is None
    assert pattern.match(path + "/b") is not None
    assert time.perf_counter() - start < 1.0


# --- mappings --------------------------------------------------------------


def test_seed_example_mapping() -> None:
    mapping = parse_mapping("external/aws/**", "prod/**")
    assert mapping.to_local("prod/db/password") == "external/aws/db/password"
    assert mapping.to_remote("external/aws/db/password") == "prod/db/password"
    assert mapping.to_local("staging/db/password") is None
    assert mapping.to_remote("external/gcp/db") is None


def test_vault_mapping() -> None:
    mapping = parse_mapping("external/hashicorp/**", "secret/data/**")
    assert mapping.remote.literal_prefix == "secret/data/"
    assert mapping.to_local("secret/data/app/config") == "external/hashicorp/app/config"


@pytest.mark.parametrize(
    ("local", "remote", "local_path", "remote_path"),
    [
        ("external/aws/**", "prod/**", "external/aws/db/password", "prod/db/password"),
        ("external/aws/**", "prod/**", "external/aws/x", "prod/x"),
        ("external/aws/**", "prod/**", "external/aws", "prod"),
        ("a/*", "b/*", "a/x", "b/x"),
        ("a/*/c/**", "r/*/**/c", "a/x/c/d/e", "r/x/d/e/c"),
        ("a/*/c/**", "r/*/**/c", "a/x/c", "r/x/c"),
        ("*/**", "r/*/x/**", "x/y/z", "r/x/x/y/z"),
        ("local/**/v/*", "remote/**/*", "local/p/q/v/k", "remote/p/q/k"),
        ("fixed/name", "other/name", "fixed/name", "other/name"),
        ("azure/*", "*", "azure/db-password", "db-password"),
        ("ü/**", "日本/**", "ü/ä/ö", "日本/ä/ö"),
    ],
)
def test_mapping_round_trip(local: str, remote: str, local_path: str, remote_path: str) -> None:
    mapping = parse_mapping(local, remote)
    assert mapping.to_remote(local_path) == remote_path
    assert mapping.to_local(remote_path) == local_path
    assert mapping.to_local(mapping.to_remote(local_path) or "") == local_path


def test_mapping_with_empty_expansion_is_unmapped() -> None:
    mapping = parse_mapping("a/**", "**")
    assert mapping.to_remote("a") is None
    assert mapping.to_remote("a/b") == "b"
    assert mapping.to_local("b") == "a/b"


def test_ambiguous_mapping_refuses_non_reversible_paths() -> None:
    mapping = parse_mapping("**/d/**", "**/c/**")
    # c/d/e -> c/c/e, but c/c/e maps back to d/c/e: no consistent counterpart.
    assert mapping.to_remote("c/d/e") is None
    assert mapping.to_remote("d/c/e") == "c/c/e"
    assert mapping.to_local("c/c/e") == "d/c/e"


def test_mapping_rejects_malformed_input_path() -> None:
    mapping = parse_mapping("a/**", "b/**")
    with pytest.raises(InvalidPathError):
        mapping.to_local("b//c")
    with pytest.raises(InvalidPathError):
        mapping.to_remote("a/..")


@pytest.mark.parametrize(
    ("local", "remote", "reason"),
    [
        ("a/**", "b/*", "same wildcards"),
        ("a/*", "b/**", "same wildcards"),
        ("a/**", "b", "same wildcards"),
        ("a", "b/**", "same wildcards"),
        ("a/*/**", "b/**/*", "same wildcards"),
        ("a/*/*", "b/*", "same wildcards"),
        ("*/**", "**/*", "same wildcards"),
        ("a/db-**", "b/**", "nothing between them"),
        ("a/**", "b/db-*", "same wildcards"),
        ("a/*-*", "b/*", "same wildcards"),
        ("a/../**", "b/**", "'..' segment"),
        ("a/**", "b//**", "empty segment"),
        ("a/**", "", "empty"),
    ],
)
def test_mapping_rejected(local: str, remote: str, reason: str) -> None:
    with pytest.raises(InvalidPathError, match=reason):
        parse_mapping(local, remote)


def test_mapping_direct_construction_checks_wildcards() -> None:
    with pytest.raises(InvalidPathError):
        PathMapping(PathPattern("a/*"), PathPattern("b/**"))


def test_parse_mappings_order_is_deterministic() -> None:
    raw = {
        "**": "everything/**",
        "external/**": "x/**",
        "external/aws/db/*": "db/*",
        "external/aws/**": "prod/**",
        "external/*/db/**": "any/*/**",
    }
    parsed = parse_mappings(raw)
    assert [m.local.pattern for m in parsed] == [
        "external/aws/db/*",
        "external/aws/**",
        "external/*/db/**",
        "external/**",
        "**",
    ]
    reversed_raw = dict(reversed(list(raw.items())))
    assert parse_mappings(reversed_raw) == parsed


def test_parse_mappings_rejects_any_bad_entry() -> None:
    with pytest.raises(InvalidPathError):
        parse_mappings({"a/**": "b/**", "c/*": "d/**"})


# --- wildcards inside a segment -------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "captures"),
    [
        ("db-*", "db-main", ("main",)),
        ("db-*", "db-", None),
        ("db-*", "db", None),
        ("*-creds", "github-creds", ("github",)),
        ("*-creds", "-creds", None),
        ("app-*-prod", "app-web-prod", ("web",)),
        ("app-*-prod", "app---prod", ("-",)),
        ("app-*-prod", "app--prod", None),
        ("app-*-prod", "app-prod", None),
        ("*-*", "a-b-c", ("a", "b-c")),
        ("*.*.*", "a.b.c.d", ("a", "b", "c.d")),
        ("x*y*z", "xayyybz", ("a", "yyb")),
        ("apps/db-*/**", "apps/db-main/a/b", ("main", "a/b")),
        ("**/*-creds", "a/b/github-creds", ("a/b", "github")),
        ("**/*-creds", "github-creds", ("", "github")),
        ("prod-*", "prod-a/b", None),
    ],
)
def test_wildcards_inside_a_segment(
    pattern: str, path: str, captures: tuple[str, ...] | None
) -> None:
    parsed = PathPattern(pattern)
    assert parsed.match(path) == captures
    if captures is not None:
        assert parsed.expand(captures) == path


def test_wildcards_count_one_star_per_star_in_a_segment() -> None:
    assert PathPattern("a/app-*-*x/**").wildcards == ("*", "*", "**")
    assert not PathPattern("a/b").wildcards


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [
        ("prod-*", "prod-"),
        ("gcp/prod-*", "gcp/prod-"),
        ("a/db-*/c/**", "a/db-"),
        ("a/*-db", "a/"),
        ("*-x", ""),
        ("a/b/**", "a/b/"),
    ],
)
def test_literal_prefix_reaches_into_the_segment(pattern: str, prefix: str) -> None:
    assert PathPattern(pattern).literal_prefix == prefix


@pytest.mark.parametrize(
    ("local", "remote", "local_path", "remote_path"),
    [
        ("gcp/*", "prod-*", "gcp/a", "prod-a"),
        ("db-*/**", "databases/*/**", "db-main/pw", "databases/main/pw"),
        ("apps/*/**", "app-*-prod/**", "apps/web/tls", "app-web-prod/tls"),
        ("creds/*", "*-creds", "creds/github", "github-creds"),
        ("x/*-*", "y/*/*", "x/a-b-c", "y/a/b-c"),
    ],
)
def test_segment_wildcard_mappings_round_trip(
    local: str, remote: str, local_path: str, remote_path: str
) -> None:
    mapping = parse_mapping(local, remote)
    assert mapping.to_remote(local_path) == remote_path
    assert mapping.to_local(remote_path) == local_path


def test_a_path_without_a_way_back_is_not_mapped() -> None:
    mapping = parse_mapping("x/*-*", "y/*/*")
    # y/a-b/c would become x/a-b-c, which maps back to y/a/b-c: not this path.
    assert mapping.to_local("y/a-b/c") is None
    assert mapping.to_remote("x/a-b-c") == "y/a/b-c"


def test_segment_wildcards_do_not_make_empty_or_dot_segments() -> None:
    mapping = parse_mapping("a/*", "b-*")
    assert mapping.to_local("b-") is None
    assert PathPattern("*.").match("x.") == ("x",)
    with pytest.raises(InvalidPathError):
        PathPattern("*.").expand((".",))


def test_more_literal_text_in_a_segment_is_more_specific() -> None:
    parsed = parse_mappings({"apps/*": "all/*", "apps/db-*": "db/*", "apps/db-main-*": "main/*"})
    assert [m.local.pattern for m in parsed] == ["apps/db-main-*", "apps/db-*", "apps/*"]


def test_segment_matching_is_linear() -> None:
    pattern = PathPattern("*-*-*-*-*x")
    segment = "-".join(["a"] * 400)
    start = time.perf_counter()
    assert pattern.match(segment) is None
    assert pattern.match(segment + "x") is not None
    assert time.perf_counter() - start < 0.5


# --- Secret names ----------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("external/aws/db/password", "external-aws-db-password"),
        ("a", "a"),
        ("a-b", "a-b"),
        ("a/b", "a-b"),
        ("0/9", "0-9"),
    ],
)
def test_lossless_names_have_no_suffix(path: str, name: str) -> None:
    assert secret_name_for_path(path) == name


@pytest.mark.parametrize(
    ("path", "base"),
    [
        ("DB/Password", "db-password"),
        ("a.b", "a-b"),
        ("a_b", "a-b"),
        ("a--b", "a-b"),
        ("a/-b", "a-b"),
        ("a-/b", "a-b"),
        ("-a", "a"),
        ("a-", "a"),
        ("café/x", "caf-x"),
        ("with space", "with-space"),
    ],
)
def test_lossy_names_get_hash_suffix(path: str, base: str) -> None:
    name = secret_name_for_path(path)
    prefix, _, suffix = name.rpartition("-")
    assert prefix == base
    assert len(suffix) == 10
    assert all(c in "0123456789abcdef" for c in suffix)
    assert is_valid_secret_name(name)


def test_all_non_ascii_path_is_only_the_hash() -> None:
    name = secret_name_for_path("日本語/пароль")
    assert len(name) == 10
    assert is_valid_secret_name(name)
    assert name != secret_name_for_path("日本語/секрет")


def test_only_ascii_letters_are_case_folded() -> None:
    # Non-ASCII letters are replaced, never folded, so names do not depend on
    # the Unicode tables of the running Python.
    assert secret_name_for_path("İSTANBUL").rpartition("-")[0] == "stanbul"
    assert secret_name_for_path("ÄB").rpartition("-")[0] == "b"
    assert len(secret_name_for_path("İ" * 52)) == 10


def test_name_is_deterministic() -> None:
    assert secret_name_for_path("Prod/DB") == secret_name_for_path("Prod/DB")
    assert secret_name_for_path("Prod/DB") != secret_name_for_path("prod/DB")


def test_documented_collision_without_suffix() -> None:
    # Both are recoverable spellings, so neither gets a suffix and they collide.
    # Callers disambiguate through the federation.scaivault.io/path annotation.
    assert secret_name_for_path("a-b") == secret_name_for_path("a/b") == "a-b"
    assert "annotation" in (secret_name_for_path.__doc__ or "")


def test_short_paths_give_short_names() -> None:
    assert len(secret_name_for_path("external/aws/prod/db/password")) <= 63
    assert len(secret_name_for_path("External/AWS/Prod/DB/Password")) <= 63


def test_long_paths_are_truncated_and_unique() -> None:
    first = "a/" * 300 + "one"
    second = "a/" * 300 + "two"
    name1 = secret_name_for_path(first)
    name2 = secret_name_for_path(second)
    for name in (name1, name2):
        assert len(name) <= 240
        assert is_valid_secret_name(name)
    assert name1 != name2
    assert name1[:-11] == name2[:-11]


def test_long_lossless_path_gets_suffix_only_when_needed() -> None:
    exact = "a" * 240
    assert secret_name_for_path(exact) == exact
    longer = "a" * 241
    name = secret_name_for_path(longer)
    assert len(name) == 240
    assert name.startswith("a" * 229 + "-")


def test_truncation_does_not_leave_double_dash() -> None:
    path = "a" * 228 + "/b" + "c" * 50
    name = secret_name_for_path(path)
    assert "--" not in name
    assert is_valid_secret_name(name)


def test_secret_name_rejects_malformed_path() -> None:
    with pytest.raises(InvalidPathError):
        secret_name_for_path("a//b")


_ALPHABET = "abcxyzABCXYZ0189-_.@+= /ÄäßéЖж日本\u00a0\u200b\U0001f511"


def _generated_paths(count: int) -> list[str]:
    rng = random.Random(20260517)
    paths: list[str] = []
    while len(paths) < count:
        segments = []
        for _ in range(rng.randint(1, 8)):
            length = rng.choice([1, 2, 5, 20, 60])
            segment = "".join(rng.choice(_ALPHABET.replace("/", "")) for _ in range(length))
            segments.append(segment)
        if rng.random() < 0.05:
            segments = segments * 30
        path = "/".join(segments)[:MAX_PATH_LENGTH].strip("/")
        try:
            validate_path(path)
        except InvalidPathError:
            continue
        paths.append(path)
    return paths


def test_generated_paths_always_give_valid_names() -> None:
    paths = _generated_paths(600)
    by_name: dict[str, set[str]] = {}
    for path in paths:
        name = secret_name_for_path(path)
        assert is_valid_secret_name(name), (path, name)
        assert len(name) <= 240
        assert name == secret_name_for_path(path)
        by_name.setdefault(name, set()).add(path)
        if len(path) <= 52:
            assert len(name) <= 63, (path, name)
    # Only the documented '/' versus '-' ambiguity may make two paths share a name.
    for name, sharing in by_name.items():
        assert len({p.replace("/", "-") for p in sharing}) == 1, (name, sharing)


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("a", True),
        ("a-b", True),
        ("a.b", True),
        ("0abc9", True),
        ("a" * 253, True),
        ("a" * 254, False),
        ("", False),
        ("-a", False),
        ("a-", False),
        ("A", False),
        ("a_b", False),
        ("a..b", False),
        (".a", False),
        ("a\n", False),
        ("ä", False),
    ],
)
def test_is_valid_secret_name(name: str, valid: bool) -> None:
    assert is_valid_secret_name(name) is valid


SUBTREES = [("app/**", "prod/**"), ("**", "all/**"), ("a/b/**", "**"), ("x/**", "x/y/**")]
PIECES = ["app", "prod", "all", "a", "b", "x", "y", "z", "A.b", "Ünï"]


def _slow(mapping: PathMapping, path: str, *, to_local: bool) -> str | None:
    """The general translation, with its way-back check, as every mapping does it."""
    source, target = (
        (mapping.remote, mapping.local) if to_local else (mapping.local, mapping.remote)
    )
    there = PathMapping._translate(source, target, path)
    if there is None or PathMapping._translate(target, source, there) != path:
        return None
    return there


def test_a_subtree_mapping_translates_as_the_general_rule_does() -> None:
    rng = random.Random(11)
    for local, remote in SUBTREES:
        mapping = parse_mapping(local, remote)
        for _ in range(400):
            path = "/".join(rng.choice(PIECES) for _ in range(rng.randint(1, 4)))
            assert mapping.to_local(path) == _slow(mapping, path, to_local=True), path
            assert mapping.to_remote(path) == _slow(mapping, path, to_local=False), path
        with pytest.raises(InvalidPathError):
            mapping.to_local("a//b")


def test_paths_named_are_every_spelling_the_default_rule_names_so() -> None:
    assert paths_named("bench-app00001") == ["bench-app00001", "bench/app00001"]
    assert sorted(paths_named("a-b-c") or []) == ["a-b-c", "a-b/c", "a/b-c", "a/b/c"]
    for name in ("x-0123456789", "0123456789"):  # may also be a hashed path's name
        assert paths_named(name) is None
    assert paths_named("-".join("abcdefgh")) is None  # too many spellings to try
    for name in ("db", "a-b", "team-x-api"):
        assert all(secret_name_for_path(p) == name for p in paths_named(name) or [])
