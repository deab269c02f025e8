"""Every way a key literal is normalised, judged by the live server: its token() and nodetool getendpoints.

Each case is a CQL literal the test INSERTs as text (so the server's own literal parsing runs), the
string bd is given, and the string nodetool getendpoints takes (the type's fromString), if any.
Whether the server accepts the literal is read live: bd must accept exactly what the server
accepts (refusing with a usage error otherwise) and give the server's token and replicas.
"""

from __future__ import annotations

import pytest

from braindump_cli.cassandra.commands import find_endpoints_many
from braindump_cli.cassandra.keys import parse_partition_key, partition_key_token
from braindump_cli.errors import UsageError
from tests.cassandra.conftest import KEYSPACES, LiveCassandra

pytestmark = pytest.mark.cassandra

KEYSPACE = "bd_literals"  # its own keyspace: the other tests list ks_nts's tables

# (key type, CQL literal, bd's argument, nodetool getendpoints key or None)
CASES: list[tuple[str, str, str, str | None]] = [
    # the two held-back misses
    ("inet", "'::ffff:192.0.2.4'", "::ffff:192.0.2.4", "::ffff:192.0.2.4"),
    ("frozen<tuple<int, int>>", "(9, null)", "(9, null)", "9:@"),
    # inet: every textual form InetAddress.getByName reads as an address
    ("inet", "'192.0.2.4'", "192.0.2.4", "192.0.2.4"),
    ("inet", "'::FFFF:c000:0204'", "::FFFF:c000:0204", "::FFFF:c000:0204"),
    ("inet", "'::192.0.2.4'", "::192.0.2.4", "::192.0.2.4"),
    ("inet", "'[::1]'", "[::1]", "[::1]"),
    ("inet", "'2001:DB8::1'", "2001:DB8::1", "2001:DB8::1"),
    # tuples: nulls anywhere, trailing fields left out, nested tuples
    ("frozen<tuple<int, int>>", "(null, 9)", "(null, 9)", "@:9"),
    ("frozen<tuple<int, int>>", "(null, null)", "(null, null)", "@:@"),
    ("frozen<tuple<int, int>>", "(9)", "(9)", "9"),
    ("frozen<tuple<text, frozen<tuple<int, text>>>>", "('a', (1, null))", "('a', (1, null))", None),
    # numbers in Java's grammars
    ("int", "7", "+7", "+7"),  # CQL has no unary plus; nodetool's Integer.parseInt takes it
    ("int", "-0", "-0", "-0"),
    ("varint", "-0", "-0", "-0"),
    ("varint", "000123", "000123", "000123"),
    ("double", "1.5", "1.5d", "1.5d"),
    ("double", "NaN", "NaN", "NaN"),
    ("double", "-Infinity", "-Infinity", "-Infinity"),
    ("double", "-0.0", "-0.0", "-0.0"),
    ("double", "1e308", "1e308", "1e308"),
    (
        "float",
        "1.000000059604644775390625000000001",
        "1.000000059604644775390625000000001",
        "1.000000059604644775390625000000001",
    ),
    ("float", "1e-50", "1e-50", "1e-50"),
    ("float", "3.4028235677973366e38", "3.4028235677973366e38", "3.4028235677973366e38"),
    ("decimal", "1E+3", "1E+3", "1E+3"),
    ("decimal", "-0.00", "-0.00", "-0.00"),
    ("decimal", "123.4500", "123.4500", "123.4500"),
    ("blob", "0x", "0x", None),  # the server refuses an empty partition key
    ("blob", "0xCafe", "0xCafe", "Cafe"),
    # dates, times and timestamps
    ("date", "'-0001-01-01'", "-0001-01-01", "-0001-01-01"),
    ("date", "'+10000-12-31'", "+10000-12-31", "+10000-12-31"),
    ("date", "'2147483648'", "2147483648", "2147483648"),
    ("time", "'1:2:3'", "1:2:3", "1:2:3"),
    ("time", "'23:59:59.999999999'", "23:59:59.999999999", "23:59:59.999999999"),
    ("timestamp", "'2024-01-02 03:04:05.123+0000'", "2024-01-02 03:04:05.123+0000", "2024-01-02 03:04:05.123+0000"),
    ("timestamp", "'2024-01-02T03:04:05Z'", "2024-01-02T03:04:05Z", "2024-01-02T03:04:05Z"),
    ("timestamp", "'2024-01-02 03:04'", "2024-01-02 03:04", "2024-01-02 03:04"),
    ("timestamp", "'2024-01-02 03:04:05.1'", "2024-01-02 03:04:05.1", "2024-01-02 03:04:05.1"),
    ("timestamp", "'2024-01-02+0200'", "2024-01-02+0200", "2024-01-02+0200"),
    ("timestamp", "'-1'", "-1", "-1"),
    # collections: order and duplicates as the server's comparators decide
    ("frozen<set<inet>>", "{'10.0.0.1', '::1', '::ffff:1.2.3.4'}", "{'10.0.0.1', '::1', '::ffff:1.2.3.4'}", None),
    ("frozen<set<int>>", "{3, 1, 3}", "{3, 1, 3}", None),
    ("frozen<set<text>>", "{'é', 'z', 'a', '漢'}", "{'é', 'z', 'a', '漢'}", None),
    ("frozen<map<text, int>>", "{'b': 1, 'a': 2}", "{'b': 1, 'a': 2}", None),
    ("frozen<list<frozen<tuple<int, int>>>>", "[(1, null), (2, 3)]", "[(1, null), (2, 3)]", None),
    # literals the server refuses: bd must refuse them too
    ("frozen<list<int>>", "[1, null]", "[1, null]", None),
    ("time", "'13:14'", "13:14", None),
    ("blob", "0xabc", "0xabc", None),
]


def _table(cql_type: str) -> str:
    return "lit_" + "".join(c if c.isalnum() else "_" for c in cql_type)


def _server_token(session: object, table: str, literal: str) -> int | None:
    """The server's token() of the row inserted with `literal`, or None if the server refuses the literal."""
    from cassandra.protocol import SyntaxException

    from cassandra import InvalidRequest  # the driver, as the harness uses it

    try:
        session.execute(f"INSERT INTO {KEYSPACE}.{table} (k, v) VALUES ({literal}, 1)")  # type: ignore[attr-defined]
    except (InvalidRequest, SyntaxException):
        return None
    row = session.execute(f"SELECT token(k) AS t FROM {KEYSPACE}.{table} WHERE k = {literal}").one()  # type: ignore[attr-defined]
    assert row is not None, (table, literal)
    return int(row.t)


def _bd_token(cql_type: str, text: str) -> int | None:
    try:
        return partition_key_token([cql_type], parse_partition_key([cql_type], [text]))
    except UsageError:
        return None


def test_key_literals_normalise_as_the_server_does(cassandra: LiveCassandra) -> None:
    s = cassandra.session()
    s.execute(f"CREATE KEYSPACE IF NOT EXISTS {KEYSPACE} WITH replication = {KEYSPACES['ks_nts']}")
    for cql_type in sorted({c[0] for c in CASES}):
        s.execute(f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.{_table(cql_type)} (k {cql_type} PRIMARY KEY, v int)")
    accepted: list[tuple[str, str, str, str | None, int]] = []
    for cql_type, literal, ours, nodetool_key in CASES:
        table = _table(cql_type)
        theirs = _server_token(s, table, literal)
        assert _bd_token(cql_type, ours) == theirs, (cql_type, literal, ours)
        if theirs is not None:
            accepted.append((cql_type, table, ours, nodetool_key, theirs))
    assert len(accepted) == len(CASES) - 4  # the last three cases and the empty blob are refused
    # the library's answer on the live ring, replicas judged by nodetool getendpoints
    by_table: dict[str, list[tuple[str, str | None, int]]] = {}
    for _, table, ours, nodetool_key, token in accepted:
        by_table.setdefault(table, []).append((ours, nodetool_key, token))
    probes: list[tuple[str, str, tuple[str, ...]]] = []
    for table, cases in by_table.items():
        found = find_endpoints_many(cassandra.settings(), KEYSPACE, table, [[c[0]] for c in cases])
        for (ours, nodetool_key, token), ep in zip(cases, found, strict=True):
            assert ep.token == token, (table, ours)
            # nodetool's option parser takes an argument starting with "-" for an option: token() judges those
            if nodetool_key is not None and not nodetool_key.startswith("-"):
                probes.append((table, nodetool_key, ep.replicas))
    outputs = cassandra.cluster.nodetool_batch(3, [["getendpoints", KEYSPACE, t, k] for t, k, _ in probes])
    for (table, key, replicas), out in zip(probes, outputs, strict=True):
        assert list(replicas) == out.split(), (table, key)
