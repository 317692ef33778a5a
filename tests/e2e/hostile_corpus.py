"""A corpus of malformed and hostile requests across every route of the API (issue 4, item 6).

Every case is a request a client must not be able to turn into a change: the contract wants a 4xx in the
failure shape for each, and MongoDB and AWS unchanged afterwards (tests/e2e/test_hostile_input.py sends
them through the local stack and checks both). The cases need a little context to aim at: an attacker
with a valid token and a running cluster of their own (so that hostile bodies reach the code behind
authentication, not just a 404), a victim with a running cluster (for other users' tokens and names), and
tokens that have expired.

`python -m tests.e2e.hostile_corpus` prints the corpus's size by route and by category (no stack needed).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

# The routes of the contract (DESIGN.md §2), as "METHOD template".
ROUTES = (
    "POST /milvus",
    "GET /milvus",
    "GET /milvus/{milvus-name}",
    "DELETE /milvus/{milvus-name}",
    "POST /milvus/{milvus-name}/suspend",
    "POST /milvus/{milvus-name}/resume",
    "PUT /milvus/{milvus-name}/whitelist",
    "GET /milvus/{milvus-name}/whitelist",
    "GET /milvus-types",
)
MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit; the front answers 413 beyond it
MIB = 1024 * 1024
MISSING = object()  # a field to leave out


@dataclass(frozen=True)
class Context:
    """What the corpus aims at (all of it exists before the corpus is sent)."""

    user: str  # the attacker: a valid token and a running cluster of their own
    token: str
    cluster: str
    victim: str  # another user with a running cluster
    victim_token: str
    victim_cluster: str
    expired_tokens: tuple[str, ...]  # tokens whose sessions have expired
    stored_hash: str  # what MongoDB stores for the attacker's token (never a token itself)


@dataclass(frozen=True)
class Case:
    id: str  # unique: "<category>/<route>/<detail>"
    route: str  # one of ROUTES (the route the request aims at)
    category: str
    method: str
    path: str  # already percent-encoded where needed
    body: bytes | None = None
    headers: dict[str, str | bytes] = field(default_factory=dict)
    # The statuses the contract names for this case, or None for "any 4xx".
    expect: frozenset[int] | None = None


# ---- values ----

OPERATORS: list[Any] = [{"$ne": None}, {"$gt": ""}, {"$where": "1"}, {"$regex": ".*"}, {"$exists": True}]
# Wrong JSON types for a string field (operators are added separately).
NOT_A_STRING: list[Any] = [None, True, 0, -1, 1.5, [], ["x"], {}]
NOT_AN_INT: list[Any] = [None, True, False, "50", "", 50.5, [50], {"value": 50}, "٥٠"]
# Names the contract refuses (lower-case letters, digits and -, 3 to 40, starting with a letter).
BAD_NAMES: dict[str, str] = {
    "empty": "",
    "space": " ",
    "short": "ab",
    "long": "a" * 41,
    "upper": "Cats-Db",
    "leading-digit": "1cats",
    "leading-dash": "-cats",
    "underscore": "cats_db",
    "dot": "cats.db",
    "dot-dot": "..",
    "slash": "cats/db",
    "traversal": "../../etc/passwd",
    "dollar": "$where",
    "operator-text": '{"$ne": null}',
    "regex": ".*",
    "nul": "cats\x00db",
    "trailing-newline": "cats\n",
    "control": "cats\x1b[31m",
    "tab": "cats\tdb",
    "leading-space": " cats",
    "trailing-space": "cats ",
    "accent": "café-db",
    "cyrillic-homoglyph": "саts-db",
    "dotless-i": "ıcats",
    "fullwidth": "ｃａｔｓ",
    "rtl-override": "cats\u202edb",
    "arabic": "قطط-db",
    "hebrew": "חתול-db",
    "zero-width": "cats\u200bdb",
    "bom": "\ufeffcats",
    "combining": "cats\u0301db",
    "emoji": "cats-🐱",
    "surrogate": "cats\ud800",
    "sql": "cats'; drop table--",
    "megabyte": "a" * MIB,
}
BAD_CIDRS: dict[str, str] = {
    "empty": "",
    "blank": " ",
    "prefix-33": "10.0.0.1/33",
    "prefix-negative": "10.0.0.0/-1",
    "prefix-plus": "10.0.0.0/+8",
    "prefix-hex": "1.1.1.1/0x20",
    "prefix-empty": "10.0.0.1/",
    "address-empty": "/24",
    "double-slash": "10.0.0.1//32",
    "double-prefix": "10.0.0.1/32/32",
    "octet-256": "256.1.1.1",
    "octet-256-cidr": "256.1.1.1/32",
    "three-octets": "1.2.3",
    "five-octets": "1.2.3.4.5",
    "integer-form": "2130706433/32",
    "hex-octet": "0x7f.0.0.1/32",
    "leading-zeros": "010.000.000.001/32",
    "open": "0.0.0.0/0",
    "open-netmask": "0.0.0.0/0.0.0.0",
    "open-padded": "0.0.0.0/00",
    "host-bits": "10.0.0.1/8",
    "ipv6-any": "::/0",
    "ipv6-loopback": "::1",
    "ipv6-net": "2001:db8::/32",
    "ipv6-mapped": "::ffff:10.0.0.1/128",
    "ipv6-zone": "fe80::1%eth0",
    "leading-space": " 10.0.0.1/32",
    "trailing-space": "10.0.0.1/32 ",
    "inner-space": "10.0.0.1 /32",
    "trailing-newline": "10.0.0.1/32\n",
    "nul": "10.0.0.1/32\x00",
    "list": "10.0.0.1/32,10.0.0.2/32",
    "range": "10.0.0.1-10.0.0.9",
    "wildcard": "*",
    "word": "any",
    "hostname": "localhost",
    "fullwidth-digits": "１.２.３.４/32",
    "arabic-digits": "١.٢.٣.٤/32",
    "injection-text": "10.0.0.1/32; drop",
    "too-long": "1" * 44,
    "megabyte": "1" * MIB,
}
BAD_PORT_TYPES: list[Any] = [
    "",
    "http",
    "MILVUS-PORT",
    "milvus-port ",
    "milvus_port",
    "19530",
    "miluvs-port\x00",
    "milvus-em-port\u200b",
    "x" * MIB,
    19530,
    None,
    ["milvus-port"],
]
BAD_DESCRIPTIONS: list[Any] = ["<script>alert(1)</script>", "a\nb", "nul\x00", "é", "\u202eoffice", "x" * 256, 5, []]
BAD_AUTHORIZATION: dict[str, str | bytes] = {
    "bearer-only": "Bearer",
    "bearer-space": "Bearer ",
    "bearer-tab": "Bearer \t",
    "basic": "Basic dXNlcjpwYXNzd29yZA==",
    "token-scheme": "Token abcdef",
    "no-scheme": "abcdef",
    "two-words": "Bearer abc def",
    "operator-ne": 'Bearer {"$ne": null}',
    "operator-gt": 'Bearer {"$gt": ""}',
    "operator-where": 'Bearer {"$where": "1"}',
    "regex": "Bearer .*",
    "sql": "Bearer ' OR '1'='1",
    "jwt-none": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.",
    "latin1": "Bearer caf\xe9".encode("latin-1"),
    "utf8": "Bearer ☃".encode(),
    "long": "Bearer " + "A" * 8192,
}


# ---- helpers ----


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def seg(text: str) -> str:
    """A path segment, percent-encoded (every byte that is not unreserved)."""
    return quote(text, safe="", errors="surrogatepass")


def deep_list(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def deep_object(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def with_field(body: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    changed = dict(body)
    if value is MISSING:
        changed.pop(key, None)
    else:
        changed[key] = value
    return changed


def label(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"bool-{str(value).lower()}"
    if isinstance(value, dict | list):
        text = json.dumps(value)
        return ("object-" if isinstance(value, dict) else "list-") + (text if len(text) <= 40 else f"{len(text)}-chars")
    if isinstance(value, float):
        return f"float-{value}"
    if isinstance(value, int):
        return f"int-{value}"
    text = str(value)
    return f"str-{len(text)}" if len(text) > 16 else "str-" + (text.encode("unicode_escape").decode() or "empty")


class Builder:
    def __init__(self) -> None:
        self.cases: list[Case] = []

    def add(
        self,
        category: str,
        route: str,
        detail: str,
        path: str,
        body: bytes | dict[str, Any] | list[Any] | None = None,
        headers: dict[str, str | bytes] | None = None,
        expect: set[int] | None = None,
        method: str | None = None,
    ) -> None:
        raw = body if isinstance(body, bytes) or body is None else dumps(body)
        self.cases.append(
            Case(
                id=f"{category}/{route}/{detail}",
                route=route,
                category=category,
                method=method or route.split(" ", 1)[0],
                path=path,
                body=raw,
                headers=dict(headers or {}),
                expect=frozenset(expect) if expect else None,
            )
        )


def bearer(token: str) -> dict[str, str | bytes]:
    return {"Authorization": f"Bearer {token}"}


# ---- the corpus ----


def build(ctx: Context) -> list[Case]:
    b = Builder()
    for part in (_create, _reads, _actions, _whitelist_put, _types, _auth_everywhere, _bodies_everywhere):
        part(b, ctx)
    ids = [c.id for c in b.cases]
    duplicates = [i for i, n in Counter(ids).items() if n > 1]
    assert not duplicates, f"duplicate case ids: {duplicates[:5]}"
    return b.cases


def _create_body(ctx: Context) -> dict[str, Any]:
    """A create that would be valid (a new name for the attacker): each case breaks it somewhere."""
    return {
        "session-token": ctx.token,
        "username": ctx.user,
        "milvus-name": "hostile-new",
        "milvus-type": "S1",
        "disk-size": 20,
    }


def _create(b: Builder, ctx: Context) -> None:
    route = "POST /milvus"
    base = _create_body(ctx)
    string_fields = ("session-token", "username", "milvus-name", "milvus-type")
    for key in string_fields:
        for value in NOT_A_STRING:
            if key == "session-token" and value is None:
                continue  # a null token means "none in the body": that case is under auth (401)
            b.add("wrong-type", route, f"{key}={label(value)}", "/milvus", with_field(base, key, value))
        for value in OPERATORS if key != "session-token" else ():  # the token's: under auth, for every route
            b.add("operator", route, f"{key}={label(value)}", "/milvus", with_field(base, key, value))
        b.add("oversized-string", route, f"{key}=1MiB", "/milvus", with_field(base, key, "a" * MIB))
    for value in [*NOT_AN_INT, *OPERATORS]:
        b.add("wrong-type", route, f"disk-size={label(value)}", "/milvus", with_field(base, "disk-size", value))
    for value in (-1, 0, 19, 2049, 10**30, -(2**63)):
        b.add("out-of-range", route, f"disk-size={value}", "/milvus", with_field(base, "disk-size", value))
    for raw in ("1e400", "-1e400", "NaN", "Infinity", "20.0", "2e1", "0x14", "020"):
        text = json.dumps(with_field(base, "disk-size", 0)).replace('"disk-size": 0', f'"disk-size": {raw}')
        b.add("bad-number", route, f"disk-size={raw}", "/milvus", text.encode())
    for value in ("m5", "M5 ", "M5\x00", "", "M7", "*", ".*", "M5-L\u202e", "S1;drop", "x" * 41):
        b.add("bad-type", route, f"milvus-type={label(value)}", "/milvus", with_field(base, "milvus-type", value))
    for key in ("username", "milvus-name"):
        for detail, name in BAD_NAMES.items():
            b.add("bad-name", route, f"{key}={detail}", "/milvus", with_field(base, key, name))
    for key in ("username", "milvus-name", "milvus-type", "disk-size"):
        b.add("missing-field", route, key, "/milvus", with_field(base, key, MISSING))
    b.add("missing-field", route, "all", "/milvus", {})
    mass_assignment = {
        "state": "running",
        "instances": [{"instance-id": "i-0123456789abcdef0"}],
        "milvus-url": "evil.example.com",
        "security-group-id": "sg-0123456789abcdef0",
        "execution-arn": "arn:aws:states:us-east-1:123456789012:execution:x:y",
        "_id": {"$ne": None},
        "$where": "1",
        "$set": {"state": "running"},
        "__proto__": {"admin": True},
        "replicas": 3,
        "Username": ctx.user,
        "milvus_name": "hostile-new",
    }
    for key, value in mass_assignment.items():
        b.add("unknown-field", route, key, "/milvus", with_field(base, key, value))
    # The token's user creating for someone else, and someone else's token.
    b.add("other-user", route, "victim-username", "/milvus", with_field(base, "username", ctx.victim), expect={403})
    b.add(
        "other-user",
        route,
        "victim-token",
        "/milvus",
        with_field(base, "session-token", ctx.victim_token),
        expect={403},
    )
    b.add(
        "other-user",
        route,
        "victim-token-header",
        "/milvus",
        with_field(base, "session-token", MISSING),
        headers=bearer(ctx.victim_token),
        expect={403},
    )
    # Conflicts with what exists: never a second cluster, never a type change.
    own = with_field(with_field(base, "milvus-name", ctx.cluster), "milvus-type", "S1")
    b.add("conflict", route, "own-name-again", "/milvus", own, expect={409})
    b.add("conflict", route, "own-name-other-type", "/milvus", with_field(own, "milvus-type", "M5"), expect={409})
    # A valid body with a bad Idempotency-Key header: refused before anything is made.
    for detail, key in {"key-129": "k" * 129, "key-10KiB": "k" * 10240}.items():
        b.add("bad-header", route, detail, "/milvus", base, headers={"Idempotency-Key": key}, expect={400})


def _reads(b: Builder, ctx: Context) -> None:
    """GET /milvus/{name} and GET .../whitelist with a valid token: hostile names in the path."""
    for route, suffix in (("GET /milvus/{milvus-name}", ""), ("GET /milvus/{milvus-name}/whitelist", "/whitelist")):
        for detail, name in BAD_NAMES.items():
            if detail in ("empty", "megabyte"):
                continue  # an empty segment is another route; a 1 MiB URL is not a request line
            b.add("bad-path", route, detail, f"/milvus/{seg(name)}{suffix}", headers=bearer(ctx.token))
        for value in OPERATORS:
            b.add(
                "operator-path",
                route,
                label(value),
                f"/milvus/{seg(json.dumps(value))}{suffix}",
                None,
                bearer(ctx.token),
            )
        for detail, raw in {
            "dollar-ne": "%24ne",
            "bracket-ne": "cats%5B%24ne%5D=1",
            "encoded-slash": f"{ctx.cluster}%2F..%2F{ctx.victim_cluster}",
            "encoded-dots": "%2E%2E",
            "long-4096": "a" * 4096,
            "percent-garbage": "%ZZ%",
            "overlong-utf8": "%C0%AE%C0%AE",
            "lone-surrogate": "%ED%A0%80",
        }.items():
            b.add("bad-path", route, detail, f"/milvus/{raw}{suffix}", headers=bearer(ctx.token))
        b.add(
            "other-user",
            route,
            "victim-cluster",
            f"/milvus/{ctx.victim_cluster}{suffix}",
            None,
            bearer(ctx.token),
            {404},
        )
        b.add(
            "other-user",
            route,
            "victim-token-own-cluster",
            f"/milvus/{ctx.cluster}{suffix}",
            None,
            bearer(ctx.victim_token),
            {404},
        )
        b.add(
            "other-user",
            route,
            "victim-cluster-query-username",
            f"/milvus/{ctx.victim_cluster}{suffix}?username={ctx.victim}",
            None,
            bearer(ctx.token),
            {404},
        )


def _action_routes(ctx: Context) -> Iterator[tuple[str, str, str]]:
    """(route, method, path) of delete, suspend and resume on the attacker's own cluster."""
    yield "DELETE /milvus/{milvus-name}", "DELETE", f"/milvus/{ctx.cluster}"
    yield "POST /milvus/{milvus-name}/suspend", "POST", f"/milvus/{ctx.cluster}/suspend"
    yield "POST /milvus/{milvus-name}/resume", "POST", f"/milvus/{ctx.cluster}/resume"


def _actions(b: Builder, ctx: Context) -> None:
    """Delete, suspend, resume: the body is optional, so every case here is broken in the body or the path
    (a valid body or header alone would act on the attacker's own cluster)."""
    for route, _method, path in _action_routes(ctx):
        base = {"session-token": ctx.token, "username": ctx.user, "milvus-name": ctx.cluster}
        for key in ("session-token", "username", "milvus-name"):
            for value in [*NOT_A_STRING, *OPERATORS]:
                if value is None:
                    continue  # null is "not given" for these optional fields
                b.add("wrong-type", route, f"{key}={label(value)}", path, with_field(base, key, value))
            b.add("oversized-string", route, f"{key}=1MiB", path, with_field(base, key, "a" * MIB))
        for key in ("username", "milvus-name"):
            for detail in ("upper", "nul", "rtl-override", "operator-text", "trailing-newline", "cyrillic-homoglyph"):
                b.add("bad-name", route, f"{key}={detail}", path, with_field(base, key, BAD_NAMES[detail]))
        for key, value in {"state": "deleting", "force": True, "$where": "1", "instances": []}.items():
            b.add("unknown-field", route, key, path, with_field(base, key, value))
        b.add("name-mismatch", route, "body-names-victims", path, with_field(base, "milvus-name", ctx.victim_cluster))
        b.add("other-user", route, "victim-username", path, with_field(base, "username", ctx.victim), expect={403})
        b.add(
            "other-user",
            route,
            "victim-token-body",
            path,
            with_field(base, "session-token", ctx.victim_token),
            expect={403},
        )
        b.add("other-user", route, "victim-token-header", path, None, bearer(ctx.victim_token), expect={404})
        victim_path = path.replace(f"/milvus/{ctx.cluster}", f"/milvus/{ctx.victim_cluster}")
        b.add("other-user", route, "victim-cluster", victim_path, None, bearer(ctx.token), expect={404})
        b.add(
            "other-user",
            route,
            "victim-cluster-body",
            victim_path,
            {"session-token": ctx.token, "username": ctx.user, "milvus-name": ctx.victim_cluster},
            expect={404},
        )
        for detail in ("upper", "dollar", "operator-text", "nul", "rtl-override", "traversal", "long"):
            bad_path = path.replace(f"/milvus/{ctx.cluster}", f"/milvus/{seg(BAD_NAMES[detail])}")
            b.add("bad-path", route, detail, bad_path, None, bearer(ctx.token))


def _whitelist_put(b: Builder, ctx: Context) -> None:
    route = "PUT /milvus/{milvus-name}/whitelist"
    path = f"/milvus/{ctx.cluster}/whitelist"
    good = {"source-ip": "198.51.100.7/32", "port-type": "milvus-port"}
    base = {"session-token": ctx.token, "username": ctx.user, "milvus-name": ctx.cluster, "ip-ranges": [good]}
    for key in ("session-token", "username", "milvus-name"):
        for value in [*NOT_A_STRING, *OPERATORS] if key != "session-token" else NOT_A_STRING[1:]:
            b.add("wrong-type", route, f"{key}={label(value)}", path, with_field(base, key, value))
        b.add("oversized-string", route, f"{key}=1MiB", path, with_field(base, key, "a" * MIB))
    for value in [None, "198.51.100.7/32", 5, True, {}, [None], [1], [[good]], ["198.51.100.7/32"], *OPERATORS]:
        b.add("wrong-type", route, f"ip-ranges={label(value)}", path, with_field(base, "ip-ranges", value))
    for key in ("username", "milvus-name", "ip-ranges"):
        b.add("missing-field", route, key, path, with_field(base, key, MISSING))
    for key in ("source-ip", "port-type"):
        b.add(
            "missing-field",
            route,
            f"entry-{key}",
            path,
            with_field(base, "ip-ranges", [with_field(good, key, MISSING)]),
        )
    for key, value in {
        "security-group-id": "sg-0123456789abcdef0",
        "whitelist-lease": None,
        "$set": {"whitelist": []},
        "state": "running",
    }.items():
        b.add("unknown-field", route, key, path, with_field(base, key, value))
    for key, value in {"port": 19530, "protocol": "-1", "$where": "1", "cidr": "0.0.0.0/0"}.items():
        b.add("unknown-field", route, f"entry-{key}", path, with_field(base, "ip-ranges", [{**good, key: value}]))
    for detail, cidr in BAD_CIDRS.items():
        entries = [good, {"source-ip": cidr, "port-type": "milvus-em-port"}]
        b.add("bad-cidr", route, detail, path, with_field(base, "ip-ranges", entries))
    for value in [*NOT_A_STRING, *OPERATORS]:
        if value is None:
            continue
        entries = [{"source-ip": value, "port-type": "milvus-port"}]
        b.add("wrong-type", route, f"source-ip={label(value)}", path, with_field(base, "ip-ranges", entries))
    for value in BAD_PORT_TYPES:
        entries = [good, {"source-ip": "198.51.100.8/32", "port-type": value}]
        b.add("bad-port-type", route, label(value), path, with_field(base, "ip-ranges", entries))
    for value in [*BAD_DESCRIPTIONS, *OPERATORS]:
        entries = [{**good, "description": value}]
        b.add("bad-description", route, label(value), path, with_field(base, "ip-ranges", entries))
    for detail, name in BAD_NAMES.items():
        if detail in ("megabyte",):
            continue
        b.add("bad-name", route, f"milvus-name={detail}", path, with_field(base, "milvus-name", name))
    for detail in ("upper", "nul", "rtl-override", "operator-text", "surrogate"):
        b.add("bad-name", route, f"username={detail}", path, with_field(base, "username", BAD_NAMES[detail]))
    # Lists: too many entries for the quota, more than the model takes, thousands.
    many = [{"source-ip": f"10.{i // 256}.{i % 256}.0/24", "port-type": "milvus-port"} for i in range(5000)]
    for count in (51, 59, 60, 1000, 1001, 5000):
        b.add("oversized-list", route, f"ip-ranges={count}", path, with_field(base, "ip-ranges", many[:count]))
    b.add("name-mismatch", route, "body-victim-cluster", path, with_field(base, "milvus-name", ctx.victim_cluster))
    b.add("name-mismatch", route, "body-other-name", path, with_field(base, "milvus-name", "other-cats"))
    victim_path = f"/milvus/{ctx.victim_cluster}/whitelist"
    victim_body = with_field(base, "milvus-name", ctx.victim_cluster)
    b.add("other-user", route, "victim-cluster", victim_path, victim_body, expect={404})
    b.add("other-user", route, "victim-username", path, with_field(base, "username", ctx.victim), expect={403})
    b.add(
        "other-user",
        route,
        "victim-username-victim-cluster",
        victim_path,
        with_field(victim_body, "username", ctx.victim),
        expect={403},
    )
    b.add(
        "other-user",
        route,
        "victim-token",
        path,
        with_field(base, "session-token", ctx.victim_token),
        expect={403},
    )
    b.add(
        "other-user",
        route,
        "victim-token-header",
        path,
        with_field(base, "session-token", MISSING),
        headers=bearer(ctx.victim_token),
        expect={403},
    )
    for detail in ("upper", "dollar", "operator-text", "nul", "rtl-override"):
        bad = f"/milvus/{seg(BAD_NAMES[detail])}/whitelist"
        b.add("bad-path", route, detail, bad, with_field(base, "milvus-name", BAD_NAMES[detail]))


def _types(b: Builder, ctx: Context) -> None:
    """The public catalog takes no input: hostile requests to it are the wrong methods and paths."""
    route = "GET /milvus-types"
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        b.add("wrong-method", route, method, "/milvus-types", dumps({"milvus-type": "X9"}), method=method)
    for detail, raw in {
        "extra-segment": "/milvus-types/M5",
        "operator": "/milvus-types/%24ne",
        "dots": "/milvus-types/%2E%2E",
    }.items():
        b.add("bad-path", route, detail, raw)
    for detail, raw in {
        "trailing-slash": "/milvus/",
        "case": "/MILVUS",
        "unknown": "/milvus/x/y/z",
        "admin": "/_admin",
    }.items():
        b.add("bad-path", "unrouted", detail, raw, headers=bearer(ctx.token), method="GET")
    # Methods no route declares (API Gateway answers these itself).
    for method, path in (
        ("PATCH", "/milvus"),
        ("PUT", "/milvus"),
        ("DELETE", "/milvus"),
        ("PATCH", f"/milvus/{ctx.cluster}"),
        ("PUT", f"/milvus/{ctx.cluster}"),
        ("GET", f"/milvus/{ctx.cluster}/suspend"),
        ("DELETE", f"/milvus/{ctx.cluster}/whitelist"),
        ("POST", f"/milvus/{ctx.cluster}/whitelist"),
        ("OPTIONS", "/milvus"),
        ("TRACE", "/milvus"),
    ):
        b.add("wrong-method", "unrouted", f"{method} {path}", path, None, bearer(ctx.token), method=method)


def _every_route(ctx: Context) -> Iterator[tuple[str, str, str]]:
    """(route, method, path) for every authenticated route, aimed at the attacker's own cluster."""
    yield "POST /milvus", "POST", "/milvus"
    yield "GET /milvus", "GET", "/milvus"
    yield "GET /milvus/{milvus-name}", "GET", f"/milvus/{ctx.cluster}"
    yield from _action_routes(ctx)
    yield "PUT /milvus/{milvus-name}/whitelist", "PUT", f"/milvus/{ctx.cluster}/whitelist"
    yield "GET /milvus/{milvus-name}/whitelist", "GET", f"/milvus/{ctx.cluster}/whitelist"


def _valid_body(route: str, ctx: Context) -> dict[str, Any] | None:
    """The body a route needs besides the token (None: the route takes none)."""
    if route == "POST /milvus":
        return with_field(_create_body(ctx), "session-token", MISSING)
    if route.startswith("PUT"):
        good = {"source-ip": "198.51.100.7/32", "port-type": "milvus-port"}
        return {"username": ctx.user, "milvus-name": ctx.cluster, "ip-ranges": [good]}
    return None


def _auth_everywhere(b: Builder, ctx: Context) -> None:
    """Every authenticated route with a missing, forged, injected or expired token: 401."""
    for route, method, path in _every_route(ctx):
        body = _valid_body(route, ctx)
        raw = dumps(body) if body is not None else None
        b.add("no-token", route, "none", path, raw, method=method, expect={401})
        for detail, header in BAD_AUTHORIZATION.items():
            b.add("bad-authorization", route, detail, path, raw, {"Authorization": header}, {401}, method=method)
        forged = {
            "stored-hash": ctx.stored_hash,  # what the database holds is not a token
            "token-with-space": f" {ctx.token}x",
            "token-prefix": ctx.token[:-1],
            "token-upper": ctx.token.upper() if ctx.token.upper() != ctx.token else ctx.token + "A",
            "token-with-nul": ctx.token + "\x00",
        }
        for index, token in enumerate(ctx.expired_tokens):
            forged[f"expired-{index}"] = token
        for detail, token in forged.items():
            if body is not None:
                b.add("bad-token", route, f"body-{detail}", path, {**body, "session-token": token}, None, {401}, method)
            if "\x00" not in token:
                b.add("bad-token", route, f"header-{detail}", path, raw, bearer(token), {401}, method=method)
        if body is not None:
            for value in OPERATORS:
                injected = {**body, "session-token": value}
                b.add("operator", route, f"session-token={label(value)}", path, injected, None, {400}, method)
            b.add("bad-token", route, "body-257-chars", path, {**body, "session-token": "t" * 257}, None, {400}, method)


def _bodies_everywhere(b: Builder, ctx: Context) -> None:
    """Bodies that are not a JSON object, deep nesting and oversized bodies, on every route that reads one."""
    body_routes = [
        ("POST /milvus", "POST", "/milvus"),
        *_action_routes(ctx),
        ("PUT /milvus/{milvus-name}/whitelist", "PUT", f"/milvus/{ctx.cluster}/whitelist"),
    ]
    not_objects: dict[str, bytes] = {
        "empty": b"",
        "truncated": b'{"username": "x", ',
        "form": b"username=x&milvus-name=cats",
        "xml": b"<milvus><name>cats</name></milvus>",
        "single-quotes": b"{'username': 'x'}",
        "trailing-comma": b'{"username": "x",}',
        "comment": b'{"username": "x" /* hi */}',
        "javascript": b"undefined",
        "nan": b"NaN",
        "binary": bytes(range(256)),
        "invalid-utf8": b'{"username": "\xff\xfe"}',
        "utf16": '{"username": "x"}'.encode("utf-16"),
        "bom": b'\xef\xbb\xbf{"username": "x"}',
        "null": b"null",
        "true": b"true",
        "number": b"42",
        "string": b'"a string"',
        "array": b"[]",
        "array-of-object": b'[{"username": "x"}]',
        "two-objects": b'{"a": 1}{"b": 2}',
    }
    for route, method, path in body_routes:
        for detail, raw in not_objects.items():
            # No header: for delete, suspend and resume an unreadable body must not fall back to one.
            b.add("not-a-json-object", route, detail, path, raw, method=method)
        b.add("deep-nesting", route, "list-10000", path, deep_list(10000), method=method)
        b.add("deep-nesting", route, "object-10000", path, deep_object(10000), method=method)
        b.add("deep-nesting", route, "list-900", path, deep_list(900), method=method)
        field_name = "ip-ranges" if route.startswith("PUT") else "username"
        nested = b'{"' + field_name.encode() + b'": ' + deep_list(10000) + b"}"
        b.add("deep-nesting", route, f"{field_name}-list-10000", path, nested, bearer(ctx.token), method=method)
        huge = b'{"username": "' + b"a" * (MAX_BODY + 1024) + b'"}'
        b.add("oversized-body", route, "10MiB+1KiB", path, huge, bearer(ctx.token), {413}, method=method)
    # GET routes ignore bodies; without a token, a hostile body must not help either.
    for route, path in (
        ("GET /milvus", "/milvus"),
        ("GET /milvus/{milvus-name}", f"/milvus/{ctx.cluster}"),
        ("GET /milvus/{milvus-name}/whitelist", f"/milvus/{ctx.cluster}/whitelist"),
    ):
        for detail, raw in {
            "token-in-body": dumps({"session-token": ctx.token}),
            "deep": deep_list(10000),
            "binary": bytes(range(256)),
        }.items():
            b.add("get-with-body", route, detail, path, raw, method="GET", expect={401})


def summary(cases: list[Case]) -> dict[str, Any]:
    return {
        "cases": len(cases),
        "by-route": dict(Counter(c.route for c in cases)),
        "by-category": dict(sorted(Counter(c.category for c in cases).items())),
    }


def _demo_context() -> Context:
    return Context(
        user="attacker",
        token="t" * 43,
        cluster="own-cats",
        victim="victim",
        victim_token="v" * 43,
        victim_cluster="victim-cats",
        expired_tokens=("e" * 43, "f" * 43),
        stored_hash="0" * 64,
    )


if __name__ == "__main__":
    print(json.dumps(summary(build(_demo_context())), indent=2))
