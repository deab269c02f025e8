"""bd's implementation of the Kubernetes CEL libraries that CRD rules use, for cel-expr-python.

quantity (`quantity`, `isQuantity`, `compareTo`, `isGreaterThan`, `isLessThan`, `add`, `sub`,
`asInteger`, `asApproximateFloat`, `sign`, `isInteger`), lists (`isSorted`, `sum`, `min`, `max`;
not the list `indexOf`/`lastIndexOf`: cel-expr-python's strings extension owns those names, so a
rule using them is reported as not evaluated), sets (`sets.contains`, `sets.equivalent`, `sets.intersects`), regex
(`find`, `findAll`, with RE2 semantics), url (`url`, `isURL`, `getScheme`, `getHost`,
`getHostname`, `getPort`, `getEscapedPath`, `getQuery`) and ip/cidr (`ip`, `isIP`, `cidr`,
`isCIDR`, `family`, `isLoopback`, `isUnspecified`, `isGlobalUnicast`, `isLinkLocalUnicast`,
`isLinkLocalMulticast`, `containsIP`, `containsCIDR`, `prefixLength`, `masked`, `ip()` of a CIDR).

cel-expr-python cannot return opaque Python objects, so a Quantity, URL, IP or CIDR is a one-key
map (`{"__quantity__": "n/d"}`, ...) that only these functions read. A Quantity keeps its exact
value as a fraction, so `quantity('1') == quantity('1000m')` as on the server.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
import urllib.parse
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

QUANTITY = re.compile(r"([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)((?:[KMGTPE]i)|[numkMGTPE]|[eE][+-]?[0-9]+)?")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_INT64 = (-(2**63), 2**63 - 1)


# --- quantity -------------------------------------------------------------------------------------


def quantity_value(text: str) -> Fraction:
    match = QUANTITY.fullmatch(text)
    if not match:
        raise ValueError(f"quantities must match the regular expression '{QUANTITY.pattern}'")
    sign, number, suffix = match.group(1), match.group(2), match.group(3) or ""
    value = Fraction(number)
    if suffix in _BINARY:
        value *= _BINARY[suffix]
    elif suffix in _DECIMAL:
        value *= Fraction(10) ** _DECIMAL[suffix]
    else:
        value *= Fraction(10) ** int(suffix[1:])
    return -value if sign == "-" else value


def _q(value: Fraction) -> dict[str, str]:
    return {"__quantity__": f"{value.numerator}/{value.denominator}"}


def _qv(q: Any) -> Fraction:
    if isinstance(q, int) and not isinstance(q, bool):
        return Fraction(q)
    return Fraction(str(q["__quantity__"]))


def _compare(a: Any, b: Any) -> int:
    x, y = _qv(a), _qv(b)
    return (x > y) - (x < y)


def _as_integer(q: Any) -> int:
    value = _qv(q)
    if value.denominator != 1 or not _INT64[0] <= value <= _INT64[1]:
        raise ValueError("cannot convert value to integer")
    return int(value)


# --- lists and sets -------------------------------------------------------------------------------


def _is_sorted(items: Sequence[Any]) -> bool:
    return all(a <= b for a, b in itertools.pairwise(items))


def _min(items: Sequence[Any]) -> Any:
    if not items:
        raise ValueError("min called on empty list")
    return min(items)


def _max(items: Sequence[Any]) -> Any:
    if not items:
        raise ValueError("max called on empty list")
    return max(items)


def _sum(items: Sequence[Any]) -> Any:
    return sum(items) if items else 0


# --- regex (RE2, as Go's regexp) ------------------------------------------------------------------


def _re2(pattern: str) -> Any:
    import re2

    return re2.compile(pattern)


def _find(text: str, pattern: str) -> str:
    found = _re2(pattern).search(text)
    return found.group(0) if found else ""


def _find_all(text: str, pattern: str, limit: int = -1) -> list[str]:
    out = [m.group(0) for m in _re2(pattern).finditer(text)]
    return out if limit < 0 else out[:limit]


# --- url ------------------------------------------------------------------------------------------


def _parse_url(text: str) -> urllib.parse.SplitResult:
    parts = urllib.parse.urlsplit(text)
    if not parts.scheme and not text.startswith("/"):
        raise ValueError(f"URL is not absolute: {text}")
    return parts


def _url(text: str) -> dict[str, str]:
    _parse_url(text)
    return {"__url__": text}


def _u(u: Any) -> urllib.parse.SplitResult:
    return urllib.parse.urlsplit(str(u["__url__"]))


def _url_query(u: Any) -> dict[str, list[str]]:
    return urllib.parse.parse_qs(_u(u).query, keep_blank_values=True)


# --- ip and cidr ----------------------------------------------------------------------------------


def _ip(text: str) -> dict[str, str]:
    if "%" in text:
        raise ValueError("IP address with zone value is not allowed")
    address = ipaddress.ip_address(text)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        raise ValueError("IPv4-mapped IPv6 address is not allowed")
    return {"__ip__": str(address)}


def _cidr(text: str) -> dict[str, str]:
    network = ipaddress.ip_interface(text)
    if "/" not in text:
        raise ValueError(f"network address parse error during conversion from string: {text}")
    return {"__cidr__": str(network)}


def _ok(fn: Callable[[str], Any]) -> Callable[[str], bool]:
    def check(text: str) -> bool:
        try:
            fn(text)
        except ValueError:
            return False
        return True

    return check


def _addr(v: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if "__ip__" in v:
        return ipaddress.ip_address(str(v["__ip__"]))
    return ipaddress.ip_interface(str(v["__cidr__"])).ip


def _net(v: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_interface(str(v["__cidr__"])).network


def _contains_ip(c: Any, other: Any) -> bool:
    address = _addr(_ip(other) if isinstance(other, str) else other)
    return address in _net(c)


def _contains_cidr(c: Any, other: Any) -> bool:
    inner = _net(_cidr(other) if isinstance(other, str) else other)
    outer = _net(c)
    return inner.version == outer.version and inner.subnet_of(outer)  # type: ignore[arg-type]


def _masked(c: Any) -> dict[str, str]:
    return {"__cidr__": str(_net(c))}


# --- declarations ---------------------------------------------------------------------------------


def declarations() -> list[Any]:
    from cel_expr_python import cel

    T = cel.Type
    obj = T.Map(T.STRING, T.STRING)
    dyn_list = T.List(T.DYN)

    def fn(name: str, *overloads: tuple[str, Any, list[Any], bool, Callable[..., Any]]) -> Any:
        return cel.FunctionDecl(
            name,
            [
                cel.Overload(oid, ret, params, is_member=member, impl=impl)
                for oid, ret, params, member, impl in overloads
            ],
        )

    def member(name: str, ret: Any, impl: Callable[..., Any], *extra: Any) -> Any:
        return fn(name, (f"k8s_{name}_{len(extra)}", ret, [obj, *extra], True, impl))

    return [
        fn("quantity", ("k8s_quantity", obj, [T.STRING], False, lambda s: _q(quantity_value(s)))),
        fn("isQuantity", ("k8s_isQuantity", T.BOOL, [T.STRING], False, _ok(quantity_value))),
        member("compareTo", T.INT, _compare, obj),
        member("isGreaterThan", T.BOOL, lambda a, b: _compare(a, b) > 0, obj),
        member("isLessThan", T.BOOL, lambda a, b: _compare(a, b) < 0, obj),
        fn(
            "add",
            ("k8s_add_q", obj, [obj, obj], True, lambda a, b: _q(_qv(a) + _qv(b))),
            ("k8s_add_i", obj, [obj, T.INT], True, lambda a, b: _q(_qv(a) + b)),
        ),
        fn(
            "sub",
            ("k8s_sub_q", obj, [obj, obj], True, lambda a, b: _q(_qv(a) - _qv(b))),
            ("k8s_sub_i", obj, [obj, T.INT], True, lambda a, b: _q(_qv(a) - b)),
        ),
        member("asInteger", T.INT, _as_integer),
        member("asApproximateFloat", T.DOUBLE, lambda q: float(_qv(q))),
        member("sign", T.INT, lambda q: (_qv(q) > 0) - (_qv(q) < 0)),
        member("isInteger", T.BOOL, lambda q: _qv(q).denominator == 1 and _INT64[0] <= _qv(q) <= _INT64[1]),
        fn("isSorted", ("k8s_isSorted", T.BOOL, [dyn_list], True, _is_sorted)),
        fn("sum", ("k8s_sum", T.DYN, [dyn_list], True, _sum)),
        fn("min", ("k8s_list_min", T.DYN, [dyn_list], True, _min)),
        fn("max", ("k8s_list_max", T.DYN, [dyn_list], True, _max)),
        fn(
            "sets.contains",
            ("k8s_sets_contains", T.BOOL, [dyn_list, dyn_list], False, lambda a, b: all(x in a for x in b)),
        ),
        fn(
            "sets.equivalent",
            (
                "k8s_sets_equivalent",
                T.BOOL,
                [dyn_list, dyn_list],
                False,
                lambda a, b: all(x in a for x in b) and all(x in b for x in a),
            ),
        ),
        fn(
            "sets.intersects",
            ("k8s_sets_intersects", T.BOOL, [dyn_list, dyn_list], False, lambda a, b: any(x in a for x in b)),
        ),
        fn("find", ("k8s_find", T.STRING, [T.STRING, T.STRING], True, _find)),
        fn(
            "findAll",
            ("k8s_findAll", T.List(T.STRING), [T.STRING, T.STRING], True, _find_all),
            ("k8s_findAll_n", T.List(T.STRING), [T.STRING, T.STRING, T.INT], True, _find_all),
        ),
        fn("url", ("k8s_url", obj, [T.STRING], False, _url)),
        fn("isURL", ("k8s_isURL", T.BOOL, [T.STRING], False, _ok(_parse_url))),
        member("getScheme", T.STRING, lambda u: _u(u).scheme),
        member("getHost", T.STRING, lambda u: _u(u).netloc.rsplit("@", 1)[-1]),
        member("getHostname", T.STRING, lambda u: _u(u).hostname or ""),
        member("getPort", T.STRING, lambda u: str(_u(u).port or "")),
        member("getEscapedPath", T.STRING, lambda u: _u(u).path),
        member("getQuery", T.Map(T.STRING, T.List(T.STRING)), _url_query),
        fn(
            "ip",
            ("k8s_ip", obj, [T.STRING], False, _ip),
            ("k8s_cidr_ip", obj, [obj], True, lambda c: {"__ip__": str(_addr(c))}),
        ),
        fn("isIP", ("k8s_isIP", T.BOOL, [T.STRING], False, _ok(_ip))),
        fn("cidr", ("k8s_cidr", obj, [T.STRING], False, _cidr)),
        fn("isCIDR", ("k8s_isCIDR", T.BOOL, [T.STRING], False, _ok(_cidr))),
        member("family", T.INT, lambda v: _addr(v).version),
        member("isUnspecified", T.BOOL, lambda v: _addr(v).is_unspecified),
        member("isLoopback", T.BOOL, lambda v: _addr(v).is_loopback),
        member("isLinkLocalMulticast", T.BOOL, lambda v: _addr(v).is_multicast and _addr(v).is_link_local),
        member("isLinkLocalUnicast", T.BOOL, lambda v: _addr(v).is_link_local and not _addr(v).is_multicast),
        member("isGlobalUnicast", T.BOOL, lambda v: _global_unicast(_addr(v))),
        fn(
            "containsIP",
            ("k8s_containsIP_s", T.BOOL, [obj, T.STRING], True, _contains_ip),
            ("k8s_containsIP_ip", T.BOOL, [obj, obj], True, _contains_ip),
        ),
        fn(
            "containsCIDR",
            ("k8s_containsCIDR_s", T.BOOL, [obj, T.STRING], True, _contains_cidr),
            ("k8s_containsCIDR_c", T.BOOL, [obj, obj], True, _contains_cidr),
        ),
        member("prefixLength", T.INT, lambda c: _net(c).prefixlen),
        member("masked", obj, _masked),
    ]


def _global_unicast(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # Go's net.IP.IsGlobalUnicast: not unspecified, loopback, multicast, link-local or broadcast
    broadcast = isinstance(address, ipaddress.IPv4Address) and int(address) == 2**32 - 1
    return not (
        address.is_unspecified or address.is_loopback or address.is_multicast or address.is_link_local or broadcast
    )
