"""Partition keys: CQL type names, CLI strings -> Python values -> Cassandra's bytes -> token.

Serialisation follows Cassandra's own type serializers (the bytes the server hashes):
fixed-width big-endian integers, two's-complement minimal varints, decimal as int32 scale +
varint unscaled value, `date` as unsigned days with the epoch at 2**31, `time` as nanoseconds
since midnight, frozen collections and tuples in the v3+ layout (int32 lengths). A partition key
of several columns is a CompositeType: per component an unsigned 16-bit length, the bytes and an
end-of-component byte 0.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
import re
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

from braindump_cli.cassandra.murmur3 import murmur3_token
from braindump_cli.errors import UsageError

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_EPOCH_DATE = dt.date(1970, 1, 1)
_DATE_OFFSET = 2**31

_FIXED = {"int": (">i", 4), "bigint": (">q", 8), "counter": (">q", 8), "smallint": (">h", 2), "tinyint": (">b", 1)}
_ALIASES = {"varchar": "text"}
_SCALARS = frozenset(
    {
        "ascii",
        "text",
        "int",
        "bigint",
        "counter",
        "smallint",
        "tinyint",
        "varint",
        "uuid",
        "timeuuid",
        "boolean",
        "double",
        "float",
        "decimal",
        "blob",
        "inet",
        "timestamp",
        "date",
        "time",
    }
)
# Element types whose Python order equals the server comparator's order (needed for frozen sets/maps).
_ORDERED_SCALARS = _SCALARS - {"uuid", "timeuuid"}


@dataclass(frozen=True)
class CqlType:
    """A parsed CQL type: `frozen<map<text, int>>` -> CqlType("map", (text, int)); frozen is dropped."""

    name: str
    params: tuple[CqlType, ...] = ()

    def __str__(self) -> str:
        if not self.params:
            return self.name
        return f"{self.name}<{', '.join(str(p) for p in self.params)}>"


_TYPE_TOKEN = re.compile(r"\s*(?:([A-Za-z_][A-Za-z0-9_.]*)|(<)|(>)|(,))")


# Complexity over 10 on purpose: a recursive-descent parser over CQL's type grammar; one branch per type constructor.
def parse_cql_type(text: str) -> CqlType:  # noqa: C901
    """Parse a CQL type as the driver reports a column's `cql_type`."""
    pos = 0

    def parse() -> CqlType:
        nonlocal pos
        m = _TYPE_TOKEN.match(text, pos)
        if not m or not m.group(1):
            raise UsageError(f"cannot parse CQL type {text!r}")
        pos = m.end()
        name = m.group(1).lower()
        name = _ALIASES.get(name, name)
        params: list[CqlType] = []
        m = _TYPE_TOKEN.match(text, pos)
        if m and m.group(2):
            pos = m.end()
            while True:
                params.append(parse())
                m = _TYPE_TOKEN.match(text, pos)
                if not m or not (m.group(3) or m.group(4)):
                    raise UsageError(f"cannot parse CQL type {text!r}")
                pos = m.end()
                if m.group(3):
                    break
        if name == "frozen":
            if len(params) != 1:
                raise UsageError(f"cannot parse CQL type {text!r}")
            return params[0]
        arity = {"list": 1, "set": 1, "map": 2}.get(name)
        if (name in _SCALARS and params) or (arity is not None and len(params) != arity):
            raise UsageError(f"cannot parse CQL type {text!r}")
        if name not in _SCALARS and arity is None and name != "tuple":
            raise UsageError(
                f"CQL type {name!r} is not supported in partition keys by bd",
                hint="supported: scalar types, frozen list/set/map and tuple",
            )
        return CqlType(name, tuple(params))

    result = parse()
    if text[pos:].strip():
        raise UsageError(f"cannot parse CQL type {text!r}")
    return result


def _as_type(t: str | CqlType) -> CqlType:
    return t if isinstance(t, CqlType) else parse_cql_type(t)


# ---------------------------------------------------------------- CLI strings -> Python values


def parse_value(cql_type: str | CqlType, text: str) -> object:
    """Parse a command-line string into the Python value of a CQL type.

    Scalars are taken as typed (`hello`, `42`, `2024-01-31`); collections and tuples use CQL
    literal syntax (`[1, 2]`, `{'a': 1}`, `(1, 'x')`) with strings in single quotes.
    """
    t = _as_type(cql_type)
    if t.name in _SCALARS:
        return _parse_scalar(t.name, text)
    literal = _LiteralParser(text).parse_all()
    return _from_literal(t, literal)


def _parse_scalar(name: str, text: str) -> object:
    try:
        return _parse_scalar_unchecked(name, text)
    except UsageError:
        raise
    except (ValueError, InvalidOperation, OverflowError) as e:
        raise UsageError(f"{text!r} is not a valid {name}: {e}") from e


def _parse_scalar_unchecked(name: str, text: str) -> object:
    s = text.strip()
    if name in ("text", "ascii"):
        return text
    parse = _SCALAR_PARSERS.get(name)
    if parse is None:
        raise UsageError(f"unsupported CQL type {name!r}")
    return parse(s)


# Java's number grammars (Integer.parseInt, BigInteger, BigDecimal, Double.valueOf), which the server
# applies to CQL literals and nodetool keys alike: no underscores, no inner spaces, no "inf"/"nan".
_JAVA_INT = re.compile(r"[+-]?[0-9]+")
_JAVA_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_JAVA_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[fFdD]?")
_JAVA_HEX_FLOAT = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+[fFdD]?")
_JAVA_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "+Infinity": math.inf, "-Infinity": -math.inf}


def _java_int(s: str) -> int:
    if not _JAVA_INT.fullmatch(s):
        raise ValueError("expected an integer (digits with an optional sign)")
    return int(s, 10)


def _java_decimal(s: str) -> Decimal:
    if not _JAVA_DECIMAL.fullmatch(s):
        raise ValueError("expected a finite decimal number")
    return Decimal(s)


def _java_double(s: str) -> float:
    if s in _JAVA_SPECIAL:
        return _JAVA_SPECIAL[s]
    if _JAVA_HEX_FLOAT.fullmatch(s):
        return float.fromhex(s.rstrip("fFdD"))
    if not _JAVA_FLOAT.fullmatch(s):
        raise ValueError("expected a number (Java syntax: 1.5, -2e3, 1.5f, 0x1p3, NaN, Infinity)")
    return float(s.rstrip("fFdD"))


def _java_float(s: str) -> float:
    """Float.parseFloat: the float32 nearest to the exact decimal, not a double rounded twice."""
    if s in _JAVA_SPECIAL or _JAVA_HEX_FLOAT.fullmatch(s):
        return _float32(_java_double(s))
    if not _JAVA_FLOAT.fullmatch(s):
        raise ValueError("expected a number (Java syntax: 1.5, -2e3, 1.5f, 0x1p3, NaN, Infinity)")
    return nearest_float32(Decimal(s.rstrip("fFdD")))


def _float32(x: float) -> float:
    return float(struct.unpack(">f", struct.pack(">f", x))[0])


def nearest_float32(d: Decimal) -> float:
    """The float32 nearest to the exact decimal `d` (ties to even), as Java's Float.parseFloat rounds.

    Rounding to a double first and then to a float can land one float32 step off (double rounding).
    """
    sign = -1.0 if d.is_signed() else 1.0
    m = d.copy_abs()  # abs() would round to the context precision
    if m.compare_total(_FLOAT32_OVERFLOW) >= 0:  # half an ulp above the largest float rounds (to even) to infinity
        return sign * math.inf
    try:
        bits = struct.unpack(">I", struct.pack(">f", float(m)))[0]
    except OverflowError:  # the double rounded up past the largest float, the decimal did not
        bits = _MAX_FINITE_FLOAT32_BITS
    candidates = [b for b in (bits - 1, bits, bits + 1) if 0 <= b <= _MAX_FINITE_FLOAT32_BITS]

    def distance(b: int) -> tuple[Decimal, int]:
        with localcontext() as ctx:  # exact: float32 values have at most 150 significant digits
            ctx.prec = len(m.as_tuple().digits) + 200
            return abs(Decimal(_float32_of_bits(b)) - m), b & 1

    return sign * _float32_of_bits(min(candidates, key=distance)) if candidates else sign * math.inf


_MAX_FINITE_FLOAT32_BITS = 0x7F7FFFFF
_FLOAT32_OVERFLOW = Decimal(2**128 - 2**103)  # (2 - 2**-24) * 2**127: the largest float plus half its ulp


def _float32_of_bits(b: int) -> float:
    return float(struct.unpack(">f", struct.pack(">I", b))[0])


def _parse_uuid(s: str) -> uuid.UUID:
    return uuid.UUID(s)


def _parse_boolean(s: str) -> bool:
    if s.lower() not in ("true", "false"):
        raise ValueError("expected true or false")
    return s.lower() == "true"


def _parse_decimal(s: str) -> Decimal:
    return _java_decimal(s)


def _parse_blob(s: str) -> bytes:
    h = s[2:] if s[:2].lower() == "0x" else s
    if not re.fullmatch(r"(?:[0-9a-fA-F]{2})*", h):
        raise ValueError("expected an even number of hex digits")
    return bytes.fromhex(h)


def parse_inet(s: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An inet literal as the server's InetAddress.getByName reads it.

    An IPv4-mapped IPv6 address (`::ffff:192.0.2.4`) becomes the IPv4 address: the server stores
    its 4 bytes, not 16. `[::1]` is accepted like Java does. Host names are refused: the server
    would resolve them with its own resolver, which bd cannot reproduce.
    """
    text = s[1:-1] if s.startswith("[") and s.endswith("]") and ":" in s else s
    try:
        addr = ipaddress.ip_address(text)
    except ValueError as e:
        raise UsageError(
            f"{s!r} is not an IP address literal",
            hint="give the address itself (the server would resolve a host name with its own DNS)",
        ) from e
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _parse_timestamp(s: str) -> int | dt.datetime:
    if re.fullmatch(r"-?\d+", s):
        return int(s)
    return _parse_datetime(s)


def _parse_date(s: str) -> int | dt.date:
    if re.fullmatch(r"\d+", s):
        return int(s)  # CQL reads a bare integer as the raw unsigned day number
    m = re.fullmatch(r"([+-]?)(\d{4,})-(\d{2})-(\d{2})", s)
    if not m or _bad_year_sign(m.group(1), m.group(2)):
        raise ValueError("expected yyyy-mm-dd (a sign before years of more than four digits)")
    year = int(m.group(1) + m.group(2))
    if 1 <= year <= 9999:
        return dt.date(year, int(m.group(3)), int(m.group(4)))
    return _raw_days(year, int(m.group(3)), int(m.group(4)))


def _bad_year_sign(sign: str, digits: str) -> bool:
    """ISO_LOCAL_DATE: more than four year digits need a sign; "+" goes only before more than four."""
    long_year = len(digits) > 4
    return (long_year and not sign) or (sign == "+" and not long_year)


def _raw_days(year: int, month: int, day: int) -> int:
    """The raw `date` value of a proleptic Gregorian day outside Python's years 1-9999 (Java's LocalDate)."""
    cycles = (year - 2000) // 400  # the calendar repeats every 400 years, 146,097 days
    local = dt.date(year - 400 * cycles, month, day)
    return (local - _EPOCH_DATE).days + cycles * 146_097 + _DATE_OFFSET


def _parse_time(s: str) -> int:
    if re.fullmatch(r"\d+", s):
        return int(s)
    return _parse_time_nanos(s)


_SCALAR_PARSERS: dict[str, Any] = {
    **{n: _java_int for n in (*_FIXED, "varint")},
    "uuid": _parse_uuid,
    "timeuuid": _parse_uuid,
    "boolean": _parse_boolean,
    "double": _java_double,
    "float": _java_float,
    "decimal": _parse_decimal,
    "blob": _parse_blob,
    "inet": parse_inet,
    "timestamp": _parse_timestamp,
    "date": _parse_date,
    "time": _parse_time,
}


_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?)?"
    r"\s*(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?"
)


def _parse_datetime(s: str) -> dt.datetime:
    """TimestampSerializer's patterns: yyyy-MM-dd[( |T)HH:mm[:ss[.SSS]]][zone], zone Z, +hh, +hhmm or +hh:mm.

    Python's fromisoformat would read "2024-01-02+0200" as 02:00 o'clock; the server reads a zone.
    """
    m = _TIMESTAMP.fullmatch(s)
    if not m:
        raise ValueError("expected yyyy-mm-dd[ HH:MM[:SS[.fff]]][+hhmm|Z]")
    y, mo, d, h, mi, sec, frac, zone = m.groups()
    millis = int((frac or "0").ljust(3, "0"))
    parsed = dt.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(sec or 0), millis * 1000)
    # Without a zone the server uses its JVM default zone; bd's harness and most clusters run in UTC.
    return parsed.replace(tzinfo=_zone(zone))


def _zone(text: str | None) -> dt.tzinfo:
    if text is None or text in ("Z", "UTC", "GMT"):
        return dt.timezone.utc
    digits = text[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + int(digits[2:4] or 0)
    return dt.timezone(dt.timedelta(minutes=minutes if text[0] == "+" else -minutes))


def _parse_time_nanos(s: str) -> int:
    m = re.fullmatch(r"(\d+):(\d+):(\d+)(?:\.(\d{1,9}))?", s)  # TimeSerializer: seconds required
    if not m:
        raise ValueError("expected hh:mm:ss[.fffffffff]")
    h, mi, sec = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    if h > 23 or mi > 59 or sec > 59:
        raise ValueError("time out of range")
    frac = (m.group(4) or "").ljust(9, "0")
    return ((h * 60 + mi) * 60 + sec) * 1_000_000_000 + int(frac or 0)


class _LiteralParser:
    """CQL literal syntax for collections: nested [..], {..}, (..), 'strings', bare words."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def _skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def parse_all(self) -> object:
        value = self.parse()
        self._skip()
        if self.pos != len(self.text):
            raise UsageError(f"unexpected text in literal {self.text!r} at {self.pos}")
        return value

    def parse(self) -> object:
        self._skip()
        if self.pos >= len(self.text):
            raise UsageError(f"literal {self.text!r} ends early")
        c = self.text[self.pos]
        if c == "'":
            return self._string()
        if c in "[({":
            return self._group(c)
        m = re.compile(r"[^\s,:\[\](){}']+").match(self.text, self.pos)
        if not m:
            raise UsageError(f"unexpected {c!r} in literal {self.text!r}")
        self.pos = m.end()
        return _Bare(m.group(0))

    def _string(self) -> str:
        out = []
        self.pos += 1
        while True:
            end = self.text.find("'", self.pos)
            if end < 0:
                raise UsageError(f"unterminated string in literal {self.text!r}")
            out.append(self.text[self.pos : end])
            self.pos = end + 1
            if self.text.startswith("'", self.pos):
                out.append("'")
                self.pos += 1
            else:
                return "".join(out)

    def _group(self, opener: str) -> object:
        closer = {"[": "]", "(": ")", "{": "}"}[opener]
        self.pos += 1
        items: list[object] = []
        pairs: list[tuple[object, object]] = []
        self._skip()
        if self.text.startswith(closer, self.pos):
            self.pos += 1
            return _Group(opener, [], [])
        while True:
            item = self.parse()
            self._skip()
            if opener == "{" and self.text.startswith(":", self.pos):
                self.pos += 1
                pairs.append((item, self.parse()))
                self._skip()
            else:
                items.append(item)
            if self.text.startswith(",", self.pos):
                self.pos += 1
                continue
            if self.text.startswith(closer, self.pos):
                self.pos += 1
                if items and pairs:
                    raise UsageError(f"mixed set and map entries in {self.text!r}")
                return _Group(opener, items, pairs)
            raise UsageError(f"expected ',' or {closer!r} in literal {self.text!r}")


@dataclass(frozen=True)
class _Bare:
    text: str


@dataclass(frozen=True)
class _Group:
    opener: str
    items: list[object]
    pairs: list[tuple[object, object]]


def _is_null(lit: object) -> bool:
    return isinstance(lit, _Bare) and lit.text.lower() == "null"


def _from_literal(t: CqlType, lit: object) -> object:
    if _is_null(lit):
        raise UsageError(
            "null is not allowed in a partition key or inside a collection", hint="only a tuple field may be null"
        )
    if t.name in _SCALARS:
        if isinstance(lit, _Bare):
            return _parse_scalar(t.name, lit.text)
        if isinstance(lit, str):
            return _parse_scalar(t.name, lit)
        raise UsageError(f"expected a {t.name} value, got a collection")
    if not isinstance(lit, _Group):
        raise UsageError(f"expected a {t} literal")
    return _GROUP_READERS[t.name](t, lit)


def _list_from_literal(t: CqlType, lit: _Group) -> object:
    if lit.opener != "[" or lit.pairs:
        raise UsageError(f"a list literal looks like [1, 2], not {lit.opener}...")
    return [_from_literal(t.params[0], x) for x in lit.items]


def _set_from_literal(t: CqlType, lit: _Group) -> object:
    if lit.opener != "{" or lit.pairs:
        raise UsageError("a set literal looks like {1, 2}")
    return {_hashable(_from_literal(t.params[0], x)) for x in lit.items}


def _map_from_literal(t: CqlType, lit: _Group) -> object:
    if lit.opener != "{" or lit.items:
        raise UsageError("a map literal looks like {'k': 1}")
    return {_hashable(_from_literal(t.params[0], k)): _from_literal(t.params[1], v) for k, v in lit.pairs}


def _tuple_from_literal(t: CqlType, lit: _Group) -> object:
    """A tuple literal: a field may be null (the server stores length -1), trailing fields may be left out."""
    if lit.opener != "(" or lit.pairs:
        raise UsageError("a tuple literal looks like (1, 'x')")
    if len(lit.items) > len(t.params):
        raise UsageError(f"too many fields for {t}")
    return tuple(None if _is_null(x) else _from_literal(p, x) for p, x in zip(t.params, lit.items, strict=False))


_GROUP_READERS = {
    "list": _list_from_literal,
    "set": _set_from_literal,
    "map": _map_from_literal,
    "tuple": _tuple_from_literal,
}


def _hashable(v: object) -> object:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    return v


# ---------------------------------------------------------------- Python values -> bytes


def serialize_value(cql_type: str | CqlType, value: object) -> bytes:
    """Cassandra's serialised form of `value` as a `cql_type` (the bytes that get hashed)."""
    t = _as_type(cql_type)
    try:
        return _serialize(t, value)
    except UsageError:
        raise
    except (struct.error, ValueError, TypeError, OverflowError, InvalidOperation) as e:
        raise UsageError(f"{value!r} cannot be stored as {t}: {e}") from e


def _varint(n: int) -> bytes:
    return n.to_bytes((n + (n < 0)).bit_length() // 8 + 1, "big", signed=True)


# Complexity over 10 on purpose: one branch per CQL type, in the order of the native protocol spec's type table, so
# the wire format can be read against it.
def _serialize(t: CqlType, v: object) -> bytes:  # noqa: C901
    name = t.name
    if v is None:
        raise UsageError("null is not allowed in a partition key")
    if name in ("text", "ascii"):
        if not isinstance(v, str):
            raise UsageError(f"{v!r} is not a {name}")
        return v.encode("utf-8" if name == "text" else "ascii")
    if name in _FIXED:
        fmt, _ = _FIXED[name]
        if isinstance(v, bool) or not isinstance(v, int):
            raise UsageError(f"{v!r} is not an integer")
        return struct.pack(fmt, v)
    if name == "varint":
        if isinstance(v, bool) or not isinstance(v, int):
            raise UsageError(f"{v!r} is not an integer")
        return _varint(v)
    if name in ("uuid", "timeuuid"):
        u = v if isinstance(v, uuid.UUID) else uuid.UUID(str(v))
        if name == "timeuuid" and u.version != 1:
            raise UsageError(f"{u} is not a time-based (version 1) UUID")
        return u.bytes
    if name == "boolean":
        return b"\x01" if _require(v, bool, name) else b"\x00"
    if name == "double":
        return struct.pack(">d", float(_number(v)))
    if name == "float":
        return struct.pack(">f", float(_number(v)))
    if name == "decimal":
        d = v if isinstance(v, Decimal) else Decimal(str(v))
        if not d.is_finite():
            raise UsageError("decimal must be finite")
        sign, digits, exponent = d.as_tuple()
        if not isinstance(exponent, int):
            raise UsageError("decimal must be finite")
        unscaled = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
        return struct.pack(">i", -exponent) + _varint(unscaled)
    if name == "blob":
        if isinstance(v, (bytes, bytearray, memoryview)):
            return bytes(v)
        raise UsageError(f"{v!r} is not bytes")
    if name == "inet":
        addr = v if isinstance(v, (ipaddress.IPv4Address, ipaddress.IPv6Address)) else ipaddress.ip_address(str(v))
        return addr.packed
    if name == "timestamp":
        return struct.pack(">q", _millis(v))
    if name == "date":
        if isinstance(v, int) and not isinstance(v, bool):
            raw = v
        elif isinstance(v, dt.date) and not isinstance(v, dt.datetime):
            raw = (v - _EPOCH_DATE).days + _DATE_OFFSET
        else:
            raise UsageError(f"{v!r} is not a date")
        return struct.pack(">I", raw)
    if name == "time":
        if isinstance(v, dt.time):
            nanos = ((v.hour * 60 + v.minute) * 60 + v.second) * 1_000_000_000 + v.microsecond * 1000
        elif isinstance(v, int) and not isinstance(v, bool):
            nanos = v
        else:
            raise UsageError(f"{v!r} is not a time")
        if not 0 <= nanos < 86_400 * 1_000_000_000:
            raise UsageError(f"time {nanos} ns is outside one day")
        return struct.pack(">q", nanos)
    if name == "list":
        seq = list(_iterable(v))
        return _collection([_serialize(t.params[0], x) for x in seq])
    if name == "set":
        elem = t.params[0]
        _require_ordered(elem)
        items = sorted(_iterable(v), key=_sort_key)
        return _collection([_serialize(elem, x) for x in items])
    if name == "map":
        if not isinstance(v, dict):
            raise UsageError(f"{v!r} is not a map")
        _require_ordered(t.params[0])
        out = [struct.pack(">i", len(v))]
        for k in sorted(v, key=_sort_key):
            for part in (_serialize(t.params[0], k), _serialize(t.params[1], v[k])):
                out.append(struct.pack(">i", len(part)) + part)
        return b"".join(out)
    if name == "tuple":
        fields = list(_iterable(v))
        if len(fields) > len(t.params):
            raise UsageError(f"too many fields for {t}")
        out_t = []
        for p, x in zip(t.params, fields, strict=False):
            if x is None:
                out_t.append(struct.pack(">i", -1))
            else:
                b = _serialize(p, x)
                out_t.append(struct.pack(">i", len(b)) + b)
        return b"".join(out_t)
    raise UsageError(f"unsupported CQL type {t}")


def _require(v: object, kind: type, name: str) -> object:
    if not isinstance(v, kind):
        raise UsageError(f"{v!r} is not a {name}")
    return v


def _number(v: object) -> float | int | Decimal:
    if isinstance(v, bool) or not isinstance(v, (int, float, Decimal)):
        raise UsageError(f"{v!r} is not a number")
    return v


def _iterable(v: object) -> Sequence[object]:
    if isinstance(v, (list, tuple)):
        return v
    if isinstance(v, (set, frozenset)):
        return list(v)
    raise UsageError(f"{v!r} is not a collection")


def _sort_key(x: Any) -> Any:
    if isinstance(x, float) and math.isnan(x):
        return math.inf  # Java's Double.compare puts NaN after +Infinity
    if isinstance(x, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return x.packed  # InetAddressType compares the bytes: 4-byte addresses sort by prefix among 16-byte ones
    return x


def _require_ordered(elem: CqlType) -> None:
    if elem.name not in _ORDERED_SCALARS:
        raise UsageError(
            f"frozen sets and map keys of {elem} are not supported by bd",
            hint="their on-disk order follows a server comparator bd does not reproduce",
        )


def _collection(parts: list[bytes]) -> bytes:
    return struct.pack(">i", len(parts)) + b"".join(struct.pack(">i", len(p)) + p for p in parts)


def _millis(v: object) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, dt.datetime):
        aware = v if v.tzinfo else v.replace(tzinfo=dt.timezone.utc)
        return (aware - _EPOCH) // dt.timedelta(milliseconds=1)
    if isinstance(v, dt.date):
        return (v - _EPOCH_DATE).days * 86_400_000
    raise UsageError(f"{v!r} is not a timestamp")


# ---------------------------------------------------------------- keys and tokens


def composite_bytes(parts: Sequence[bytes]) -> bytes:
    """CompositeType.build: per component a 2-byte length, the bytes and end-of-component 0."""
    out = []
    for p in parts:
        if len(p) > 0xFFFF:
            raise UsageError("a partition key component is longer than 65535 bytes")
        out.append(struct.pack(">H", len(p)) + p + b"\x00")
    return b"".join(out)


def partition_key_bytes(types: Sequence[str | CqlType], values: Sequence[object]) -> bytes:
    """The serialised partition key: the value itself, or a CompositeType of several columns."""
    if len(types) != len(values):
        raise UsageError(f"the partition key has {len(types)} column(s), got {len(values)} value(s)")
    if not types:
        raise UsageError("a partition key needs at least one column")
    parts = [serialize_value(t, v) for t, v in zip(types, values, strict=True)]
    if len(parts) == 1 and not parts[0]:
        raise UsageError("the server refuses an empty partition key (Key may not be empty)")
    return parts[0] if len(parts) == 1 else composite_bytes(parts)


def parse_partition_key(types: Sequence[str | CqlType], texts: Sequence[str]) -> tuple[object, ...]:
    """Parse one command-line string per partition key column."""
    if len(types) != len(texts):
        raise UsageError(
            f"the partition key has {len(types)} column(s), got {len(texts)} value(s)",
            hint="give one KEY argument per partition key column, in order",
        )
    return tuple(parse_value(t, s) for t, s in zip(types, texts, strict=True))


def partition_key_token(types: Sequence[str | CqlType], values: Sequence[object]) -> int:
    """The Murmur3Partitioner token of a partition key given as Python values."""
    return murmur3_token(partition_key_bytes(types, values))
