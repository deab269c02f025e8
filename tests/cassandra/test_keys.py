"""Partition-key parsing and serialisation, checked against the driver's own serializers and routing keys."""

from __future__ import annotations

import datetime as dt
import ipaddress
import random
import struct
import uuid
from decimal import Decimal
from typing import Any

import pytest

from braindump_cli.cassandra.keys import (
    CqlType,
    composite_bytes,
    parse_cql_type,
    parse_partition_key,
    parse_value,
    partition_key_bytes,
    partition_key_token,
    serialize_value,
)
from braindump_cli.errors import UsageError

# CQL name -> driver marshal class name
DRIVER_TYPES = {
    "ascii": "AsciiType",
    "text": "UTF8Type",
    "varchar": "UTF8Type",
    "int": "Int32Type",
    "bigint": "LongType",
    "smallint": "ShortType",
    "tinyint": "ByteType",
    "varint": "IntegerType",
    "uuid": "UUIDType",
    "timeuuid": "TimeUUIDType",
    "boolean": "BooleanType",
    "double": "DoubleType",
    "float": "FloatType",
    "decimal": "DecimalType",
    "blob": "BytesType",
    "inet": "InetAddressType",
    "timestamp": "DateType",
    "date": "SimpleDateType",
    "time": "TimeType",
}


# Complexity over 10 on purpose: one branch per CQL type: a generator's type table written as code.
def _random_value(name: str, rng: random.Random) -> Any:  # noqa: C901
    if name == "ascii":
        return "".join(chr(rng.randint(32, 126)) for _ in range(rng.randint(1, 20)))
    if name in ("text", "varchar"):
        return "".join(chr(rng.choice([rng.randint(32, 126), rng.randint(0xA0, 0x2FFF), 0x1F600])) for _ in range(8))
    bits = {"int": 32, "bigint": 64, "smallint": 16, "tinyint": 8}
    if name in bits:
        b = bits[name]
        return rng.randint(-(2 ** (b - 1)), 2 ** (b - 1) - 1)
    if name == "varint":
        return rng.randint(-(2**100), 2**100)
    if name == "uuid":
        return uuid.UUID(int=rng.getrandbits(128), version=4)
    if name == "timeuuid":
        return uuid.UUID(fields=(rng.getrandbits(32), rng.getrandbits(16), 0x1000 | rng.getrandbits(12), 0x80, 1, 2))
    if name == "boolean":
        return rng.random() < 0.5
    if name in ("double", "float"):
        return rng.choice([0.0, -1.5, 3.25, 1e10, rng.uniform(-1e6, 1e6)])
    if name == "decimal":
        return Decimal(rng.randint(-(10**12), 10**12)).scaleb(rng.randint(-8, 4))
    if name == "blob":
        return rng.randbytes(rng.randint(0, 30))
    if name == "inet":
        if rng.random() < 0.5:
            return ipaddress.IPv4Address(rng.getrandbits(32))
        return ipaddress.IPv6Address(rng.getrandbits(128))
    if name == "timestamp":
        return rng.randint(-(2**40), 2**42)
    if name == "date":
        return dt.date(1970, 1, 1) + dt.timedelta(days=rng.randint(-200_000, 200_000))
    if name == "time":
        return dt.time(rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59), rng.randint(0, 999_999))
    raise AssertionError(name)


def _driver_value(name: str, v: Any) -> Any:
    return str(v) if name == "inet" else v


@pytest.mark.parametrize("name", sorted(DRIVER_TYPES))
def test_scalar_serialisation_matches_the_driver(name: str) -> None:
    from cassandra import cqltypes

    driver = cqltypes.lookup_casstype(DRIVER_TYPES[name])
    rng = random.Random(name)
    for _ in range(200):
        v = _random_value(name, rng)
        assert serialize_value(name, v) == driver.serialize(_driver_value(name, v), 4), (name, v)


@pytest.mark.parametrize(
    ("cql", "driver", "value", "driver_value"),
    [
        ("frozen<list<int>>", "ListType(Int32Type)", [3, 1, 2], [3, 1, 2]),
        ("frozen<set<text>>", "SetType(UTF8Type)", {"b", "a", "é"}, ["a", "b", "é"]),
        ("frozen<set<int>>", "SetType(Int32Type)", {10, -5, 3}, [-5, 3, 10]),
        ("frozen<map<text, bigint>>", "MapType(UTF8Type, LongType)", {"z": 1, "a": -2}, {"a": -2, "z": 1}),
        (
            "frozen<tuple<int, text, boolean>>",
            "TupleType(Int32Type, UTF8Type, BooleanType)",
            (1, "x", True),
            (1, "x", True),
        ),
        ("tuple<int, text>", "TupleType(Int32Type, UTF8Type)", (1, None), (1, None)),
    ],
)
def test_collection_serialisation_matches_the_driver(cql: str, driver: str, value: Any, driver_value: Any) -> None:
    from cassandra import cqltypes

    assert serialize_value(cql, value) == cqltypes.lookup_casstype(driver).serialize(driver_value, 4)


def test_composite_key_matches_the_driver_routing_key_and_token() -> None:
    from cassandra.metadata import Murmur3Token
    from cassandra.query import SimpleStatement

    rng = random.Random(3)
    names = sorted(DRIVER_TYPES)
    for _ in range(300):
        types = [rng.choice(names) for _ in range(rng.randint(2, 4))]
        values = [_random_value(t, rng) for t in types]
        parts = [serialize_value(t, v) for t, v in zip(types, values, strict=True)]
        stmt = SimpleStatement("SELECT 1")
        stmt.routing_key = parts
        assert partition_key_bytes(types, values) == stmt.routing_key == composite_bytes(parts)
        assert partition_key_token(types, values) == Murmur3Token.from_key(stmt.routing_key).value


def test_single_column_key_is_the_plain_value() -> None:
    assert partition_key_bytes(["int"], [1]) == b"\x00\x00\x00\x01"
    assert partition_key_token(["int"], [1]) == -4069959284402364209
    assert partition_key_bytes(["text", "int"], ["a", 1]) == b"\x00\x01a\x00\x00\x04\x00\x00\x00\x01\x00"


@pytest.mark.parametrize(
    ("cql", "text", "expected"),
    [
        ("text", "héllo wörld", "héllo wörld"),
        ("text", "", ""),
        ("ascii", "abc", "abc"),
        ("int", "-42", -42),
        ("bigint", "9223372036854775807", 2**63 - 1),
        ("varint", "123456789012345678901234567890", 123456789012345678901234567890),
        ("uuid", "5C4D4B3E-8A8F-4A55-9B5D-1D1F2C3B4A5E", uuid.UUID("5c4d4b3e-8a8f-4a55-9b5d-1d1f2c3b4a5e")),
        ("boolean", "TRUE", True),
        ("boolean", "false", False),
        ("double", "1.5e3", 1500.0),
        ("decimal", "-1.50", Decimal("-1.50")),
        ("blob", "0xCAFE", b"\xca\xfe"),
        ("blob", "cafe", b"\xca\xfe"),
        ("inet", "10.0.0.1", ipaddress.IPv4Address("10.0.0.1")),
        ("inet", "::1", ipaddress.IPv6Address("::1")),
        ("timestamp", "1700000000000", 1700000000000),
        ("date", "2024-02-29", dt.date(2024, 2, 29)),
        ("date", "2147483648", 2147483648),
        ("time", "13:14:15.5", (13 * 3600 + 14 * 60 + 15) * 10**9 + 500_000_000),
        ("time", "86399999999999", 86399999999999),
        ("frozen<list<text>>", "['a', 'it''s']", ["a", "it's"]),
        ("frozen<set<int>>", "{3, 1}", {1, 3}),
        ("frozen<map<text, int>>", "{'k': 1, 'j': 2}", {"k": 1, "j": 2}),
        (
            "frozen<tuple<int, text, uuid>>",
            "(1, 'x', 00000000-0000-0000-0000-000000000001)",
            (1, "x", uuid.UUID(int=1)),
        ),
    ],
)
def test_parse_value(cql: str, text: str, expected: object) -> None:
    assert parse_value(cql, text) == expected


@pytest.mark.parametrize(
    ("text", "millis"),
    [
        ("2024-01-02 03:04:05+0000", 1704164645000),
        ("2024-01-02T03:04:05.123Z", 1704164645123),
        ("2024-01-02 05:04:05+02:00", 1704164645000),
        ("2024-01-02 03:04:05", 1704164645000),
        ("2024-01-02", 1704153600000),
        ("2024-01-02+0200", 1704146400000),  # a zone after the date: midnight at +02:00 (not 02:00 o'clock)
        ("2024-01-02 03:04:05.1", 1704164645100),
    ],
)
def test_timestamp_strings_serialise_to_utc_millis(text: str, millis: int) -> None:
    assert serialize_value("timestamp", parse_value("timestamp", text)) == millis.to_bytes(8, "big", signed=True)


def test_date_serialises_with_epoch_at_two_to_the_31() -> None:
    assert serialize_value("date", dt.date(1970, 1, 1)) == (2**31).to_bytes(4, "big")
    assert serialize_value("date", dt.date(1969, 12, 31)) == (2**31 - 1).to_bytes(4, "big")


@pytest.mark.parametrize(
    ("cql", "text"),
    [
        ("int", "abc"),
        ("int", "2147483648"),
        ("tinyint", "128"),
        ("uuid", "not-a-uuid"),
        ("timeuuid", "5c4d4b3e-8a8f-4a55-9b5d-1d1f2c3b4a5e"),
        ("boolean", "yes"),
        ("decimal", "NaN"),
        ("blob", "0xZZ"),
        ("inet", "300.1.1.1"),
        ("date", "2024-13-01"),
        ("time", "25:00"),
        ("ascii", "héllo"),
        ("frozen<list<int>>", "[1, 2"),
        ("frozen<list<int>>", "{1, 2}"),
        ("frozen<tuple<int>>", "(1, 2)"),
    ],
)
def test_bad_values_are_usage_errors(cql: str, text: str) -> None:
    with pytest.raises(UsageError):
        serialize_value(cql, parse_value(cql, text))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("int", CqlType("int")),
        ("VARCHAR", CqlType("text")),
        ("frozen<map<text, frozen<list<int>>>>", CqlType("map", (CqlType("text"), CqlType("list", (CqlType("int"),))))),
        ("tuple<int,uuid>", CqlType("tuple", (CqlType("int"), CqlType("uuid")))),
    ],
)
def test_parse_cql_type(text: str, expected: CqlType) -> None:
    assert parse_cql_type(text) == expected


@pytest.mark.parametrize("text", ["map<int>", "int<text>", "list<", "frozen<address>", "duration", "list<int> x"])
def test_unsupported_or_malformed_types(text: str) -> None:
    with pytest.raises(UsageError):
        parse_cql_type(text)


def test_parse_partition_key_needs_one_value_per_column() -> None:
    assert parse_partition_key(["text", "int"], ["a", "1"]) == ("a", 1)
    with pytest.raises(UsageError, match="2 column"):
        parse_partition_key(["text", "int"], ["a"])


def test_sets_of_uuids_are_refused_rather_than_mis_ordered() -> None:
    with pytest.raises(UsageError):
        serialize_value("frozen<set<uuid>>", {uuid.UUID(int=1)})


# ---------------------------------------------------------------- literals as the server normalises them


@pytest.mark.parametrize(
    ("cql", "text", "hex_bytes"),
    [
        # InetAddress.getByName turns an IPv4-mapped IPv6 address into the IPv4 address: 4 bytes stored
        ("inet", "::ffff:192.0.2.4", "c0000204"),
        ("inet", "::FFFF:c000:0204", "c0000204"),
        ("inet", "[::1]", "00000000000000000000000000000001"),
        ("inet", "::192.0.2.4", "000000000000000000000000c0000204"),  # IPv4-compatible stays 16 bytes
        # a tuple field may be null (length -1); trailing fields may be left out
        ("frozen<tuple<int, int>>", "(9, null)", "0000000400000009ffffffff"),
        ("frozen<tuple<int, int>>", "(null, 9)", "ffffffff0000000400000009"),
        ("frozen<tuple<int, int>>", "(9)", "0000000400000009"),
        (
            "frozen<tuple<int, frozen<tuple<text, int>>>>",
            "(1, ('a', NULL))",
            "0000000400000001" + "00000009" + "0000000161ffffffff",
        ),
        # Java number syntax
        ("int", "+7", "00000007"),
        ("varint", "-0", "00"),
        ("double", "1.5d", "3ff8000000000000"),
        ("double", "0x1.8p1", "4008000000000000"),
        ("double", "-Infinity", "fff0000000000000"),
        ("double", "NaN", "7ff8000000000000"),
        ("float", "1.5f", "3fc00000"),
        # Float.parseFloat rounds the exact decimal once; float(text) then float32 would give 1.0 (3f800000)
        ("float", "1.000000059604644775390625000000001", "3f800001"),
        ("float", "1e-50", "00000000"),
        ("float", "3.4028235677973366e38", "7f7fffff"),  # just below the tie with infinity: the largest float
        ("float", "3.40282356779733661637539395458142568448e38", "7f800000"),  # the tie: to even, infinity
        ("float", "-0.0", "80000000"),
        ("decimal", "1E+3", "fffffffd01"),
        ("decimal", "-0.00", "0000000200"),
        ("decimal", ".5", "0000000105"),
        ("blob", "0x", ""),
        # ISO_LOCAL_DATE years outside 1-9999, proleptic Gregorian
        ("date", "-0001-01-01", "7ff503eb"),
        ("date", "0000-01-01", "7ff50558"),
        ("date", "+10000-01-01", "802cc0a1"),
        ("time", "1:2:3", f"{(3600 + 120 + 3) * 10**9:016x}"),
        # sets of inet sort by their bytes, 4-byte addresses among 16-byte ones
        (
            "frozen<set<inet>>",
            "{'10.0.0.1', '::1', '::ffff:1.2.3.4'}",
            "00000003" + "00000010" + "00" * 15 + "01" + "00000004" + "01020304" + "00000004" + "0a000001",
        ),
    ],
)
def test_literals_normalise_like_the_server(cql: str, text: str, hex_bytes: str) -> None:
    assert serialize_value(cql, parse_value(cql, text)).hex() == hex_bytes


@pytest.mark.parametrize(
    ("cql", "text"),
    [
        ("int", "1_000"),  # Python's int() takes underscores, Java's parseInt does not
        ("varint", "1 000"),
        ("double", "inf"),
        ("double", "nan"),
        ("double", "1_0.5"),
        ("decimal", "Infinity"),
        ("blob", "0xabc"),  # odd number of hex digits
        ("blob", "ab cd"),
        ("inet", "localhost"),  # the server would resolve it with its own DNS
        ("date", "+2024-01-01"),
        ("date", "10000-01-01"),
        ("time", "13:14"),
        ("frozen<list<int>>", "[1, null]"),
        ("frozen<set<int>>", "{null}"),
        ("frozen<map<int, int>>", "{1: null}"),
        ("int", "null"),
    ],
)
def test_literals_the_server_refuses_are_usage_errors(cql: str, text: str) -> None:
    with pytest.raises(UsageError):
        serialize_value(cql, parse_value(cql, text))


def test_float32_rounding_is_exact_on_random_decimals() -> None:
    from decimal import localcontext

    from braindump_cli.cassandra.keys import nearest_float32

    rng = random.Random(32)
    for _ in range(3000):
        bits = rng.getrandbits(31)
        if (bits >> 23) == 0xFF:
            continue
        lo = struct.unpack(">f", struct.pack(">I", bits))[0]
        hi = struct.unpack(">f", struct.pack(">I", bits + 1))[0] if bits + 1 < 0x7F800000 else None
        if hi is None:
            continue
        with localcontext() as ctx:
            ctx.prec = 200
            mid = (Decimal(lo) + Decimal(hi)) / 2
            nudge = Decimal(10) ** (mid.adjusted() - 60)
            assert nearest_float32(mid - nudge) == lo
            assert nearest_float32(mid + nudge) == hi
            assert nearest_float32(mid) == (lo if bits % 2 == 0 else hi)  # ties to even
