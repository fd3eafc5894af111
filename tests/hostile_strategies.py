"""Hypothesis strategies for hostile input: templates, endpoints, backend specs and
API bodies, built from the pieces attacks are made of (deep nesting, long chains,
huge repeats, odd URL spellings).

Endpoints only ever name loopback hosts (in many spellings, with junk around
them): whatever a fuzzed backend might do with one, it never leaves the machine.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

#: pieces of template text an attacker strings together
_TOKENS = (
    "{{", "}}", "{%", "%}", "{#", "#}", "(", ")", "[", "]", "{", "}", ",", ":", " ",
    "path", "data", "captures[0]", "remote_path", "data.x", "1", "1048576", "'x'", '"y"',
    "*", "**", "+", "-", "~", "%", "/", "//", "not ", " and ", " or ", " in ", " is defined",
    "|lower", "|upper", "|string", "|tojson", "|join", "|list", "|sort", "|unique",
    "|length", "|sum", "|replace('a', 'bb')", "|map('upper')", "|b64encode", "|fromjson",
    "|int", "|default('d')", ".split()", ".x", "[0]", "if ", "else ", "endif", "for ",
    "endfor", "set x = 1", "include 'x'", "__class__", "__globals__",
)  # fmt: skip
_SHAPES = (
    "{{ %s }}",
    "{{ (%s) }}",
    "{%% if %s %%}x{%% endif %%}",
    "{{ [%s] | tojson }}",
    "%s",
)


#: templates that are fine (and render small)
_PLAIN = ("{{ path | replace('/', '-') }}", "app-{{ captures[0] }}", "plain", "x-{{ 6 * 7 }}")


@st.composite
def templates(draw: st.DrawFn) -> str:
    """A template: token soup, deep nesting, long chains or huge repeats."""
    kind = draw(st.sampled_from(("plain", "soup", "nested", "chain", "repeat", "text")))
    if kind == "plain":
        return draw(st.sampled_from(_PLAIN))
    if kind == "soup":
        body = "".join(draw(st.lists(st.sampled_from(_TOKENS), max_size=40)))
    elif kind == "nested":
        depth = draw(st.integers(1, 400))
        opening, closing = draw(st.sampled_from((("(", ")"), ("[", "]"), ("{'a':", "}"))))
        body = opening * depth + draw(st.sampled_from(("1", "path", "data"))) + closing * depth
    elif kind == "chain":
        link = draw(st.sampled_from(("|lower", "|string", "|list|join", " ~ path", " + 1", ".x")))
        body = "path" + link * draw(st.integers(1, 1500))
    elif kind == "repeat":
        inner = draw(st.sampled_from(("[1]", "'x'", "[[1]*1048576]", "path", "[path]")))
        times = draw(st.sampled_from((2, 1000, 1048576, 10**9)))
        body = f"({inner}*{times})" + draw(st.sampled_from(("", "|string", "|tojson", "|length")))
    else:
        return draw(st.text(max_size=200))
    shape = draw(st.sampled_from(_SHAPES))
    return (shape % body)[:8192]


_HOSTS = (
    "127.0.0.1", "127.0.0.2", "localhost", "[::1]", "2130706433", "0x7f000001",
    "0177.0.0.1", "127.1", "[::ffff:127.0.0.1]",
)  # fmt: skip
_JUNK = ("", "\\", "@", "%", " ", "#", "?", ":", "\\@127.0.0.1", "@127.0.0.1", "%2f", "\t")


@st.composite
def endpoints(draw: st.DrawFn) -> str:
    """A URL naming a loopback host, spelled oddly, with junk around it."""
    if draw(st.booleans()):
        return draw(st.sampled_from(("http://127.0.0.1:8200", "https://localhost:8200")))
    scheme = draw(st.sampled_from(("http://", "https://", "HTTP://", "ftp://", "", "//")))
    userinfo = draw(st.sampled_from(("", "user@", "u:p@", "127.0.0.1@", "\\@")))
    host = draw(st.sampled_from(_HOSTS))
    port = draw(st.sampled_from(("", ":8200", ":0", ":65535", ":65536", ":99999999", ":x", ":")))
    junk = draw(st.sampled_from(_JUNK))
    path = draw(st.sampled_from(("", "/", "/v1", "/../..", "/%00")))
    return scheme + userinfo + host + junk + port + path


def _target(draw: st.DrawFn) -> dict[str, Any]:
    template = templates()
    where = draw(st.sampled_from(("name", "label", "annotation", "data")))
    if where == "name":
        return {"name": draw(template)}
    if where == "label":
        return {"labels": {"team": draw(template)}}
    if where == "annotation":
        return {"annotations": {"example.com/note": draw(template)}}
    return {"data": {"template": {"out": draw(template)}}}


@st.composite
def cr_specs(draw: st.DrawFn) -> dict[str, Any]:
    """A FederationBackend spec as the CRD would store it (camelCase)."""
    spec: dict[str, Any] = {
        "type": draw(st.sampled_from(("hashicorp-vault", "aws-secrets-manager", "nope"))),
        "config": {"endpoint": draw(endpoints()), "authConfigPath": "creds/vault"},
        "pathMapping": {"apps/**": "secret/data/apps/**"},
        "mode": draw(st.sampled_from(("sync", "proxy", "bogus"))),
        "suspend": True,
        "syncInterval": "10m",
        "target": _target(draw),
    }
    if draw(st.booleans()):
        spec["target"]["rules"] = [{"path": "apps/x/**", **_target(draw)}]
    return spec


@st.composite
def api_bodies(draw: st.DrawFn, name: str) -> dict[str, Any]:
    """A body for ``POST /v1/federation/backends`` (snake_case), suspended."""
    body: dict[str, Any] = {
        "name": name,
        "type": "hashicorp-vault",
        "config": {"endpoint": draw(endpoints()), "auth_config_path": "creds/vault-token"},
        "path_mapping": {"external/fuzz/**": "secret/data/fuzz/**"},
        "mode": "sync",
        "sync_interval": "10m",
        "suspend": True,
        "target": _target(draw),
    }
    return body
