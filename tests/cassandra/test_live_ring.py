"""bd against nodetool (from the same jars) on the live cluster: ownership, tokens, key placement."""

from __future__ import annotations

import json
import random
import re
import uuid

import pytest
from typer.testing import CliRunner

from braindump_cli.cassandra.commands import describe_ring, find_endpoints_many
from braindump_cli.cli.app import app
from tests.cassandra.conftest import KEYSPACES, PASSWORD, LiveCassandra

pytestmark = pytest.mark.cassandra

runner = CliRunner()

PCT = re.compile(r"^(\d+(?:\.\d+)?)%$")


def _status_owns(text: str) -> dict[str, float]:
    """Address -> "Owns (effective)" (or "Owns") of `nodetool status` as a fraction."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 6 and len(parts[0]) == 2 and parts[0][0] in "UD":
            pct = next(p for p in parts[2:] if PCT.match(p))
            out[parts[1]] = float(pct[:-1]) / 100
    return out


def _ring_rows(text: str) -> list[tuple[str, str, str, str, float | None, int]]:
    """(address, rack, status, state, owns, token) of every token line of `nodetool ring`.

    Without a keyspace, nodetool prints "?" for ownership when keyspaces replicate differently.
    """
    rows = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 7 and parts[0].count(".") == 3 and (PCT.match(parts[-2]) or parts[-2] == "?"):
            owns = float(parts[-2][:-1]) / 100 if parts[-2] != "?" else None
            rows.append((parts[0], parts[1], parts[2], parts[3], owns, int(parts[-1])))
    return rows


def test_effective_ownership_equals_nodetool_status_and_ring(cassandra: LiveCassandra) -> None:
    names = [*sorted(KEYSPACES), "system_auth", "system_distributed", "system_traces"]
    outputs = cassandra.cluster.nodetool_batch(1, [c for ks in names for c in (["status", ks], ["ring", ks])])
    settings = cassandra.settings()
    for i, ks in enumerate(names):
        status, ring_text = _status_owns(outputs[2 * i]), _ring_rows(outputs[2 * i + 1])
        report = describe_ring(settings, keyspace=ks)
        ours = {n.address: n.owns_effective for n in report.nodes}
        assert set(ours) == set(status) == {n.address for n in cassandra.cluster.nodes}, ks
        ring_owns = {r[0]: r[4] for r in ring_text}
        for address, owns in ours.items():
            assert owns is not None
            # status prints one decimal of a percent, ring two (both DecimalFormat, half-even)
            assert abs(owns - status[address]) <= 0.0005 + 1e-9, (ks, address, owns, status[address])
            their_owns = ring_owns[address]
            assert their_owns is not None, ring_text
            assert abs(owns - their_owns) <= 0.00005 + 1e-9, (ks, address, owns, their_owns)
    # A keyspace where the lone rack2 node of dc1 must hold every range (the rack rule at work).
    nts = {n.address: n.owns_effective for n in describe_ring(settings, keyspace="ks_nts").nodes}
    assert nts["127.0.0.2"] == pytest.approx(1.0, abs=1e-4)
    assert nts["127.0.0.4"] == pytest.approx(1.0, abs=1e-4)
    assert nts["127.0.0.1"] + nts["127.0.0.3"] == pytest.approx(1.0, abs=1e-4)


def test_tokens_and_node_facts_equal_nodetool_ring(cassandra: LiveCassandra) -> None:
    ring_text = cassandra.cluster.nodetool(1, "ring")
    theirs = {(r[0], r[5]) for r in _ring_rows(ring_text)}
    assert len(theirs) == 16 * len(cassandra.cluster.nodes), ring_text
    result = runner.invoke(app, ["cassandra", "ring", "--tokens", "-o", "json", *cassandra.cli_args()])
    assert result.exit_code == 0, result.stderr
    nodes = json.loads(result.stdout)
    ours = {(n["address"], t) for n in nodes for t in n["token_values"]}
    assert ours == theirs
    assert len(ours) == 16 * len(cassandra.cluster.nodes)
    racks = {r[0]: r[1] for r in _ring_rows(ring_text)}
    by_address = {n["address"]: n for n in nodes}
    for node in cassandra.cluster.nodes:
        got = by_address[node.address]
        assert (got["datacenter"], got["rack"], got["up"], got["tokens"]) == (node.datacenter, node.rack, True, 16)
        assert got["rack"] == racks[node.address]
        assert got["owns_effective"] is None
        assert re.fullmatch(r"[0-9a-f-]{36}", got["host_id"])
        assert got["release_version"] == "5.0.8"
    # Without a keyspace nodetool prints "?" once keyspaces differ; a node's primary share ("owns")
    # is its effective ownership under SimpleStrategy RF 1, which nodetool does print.
    rf1 = {r[0]: r[4] for r in _ring_rows(cassandra.cluster.nodetool(1, "ring", "ks_rf1"))}
    for address, owns in rf1.items():
        assert owns is not None
        assert abs(by_address[address]["owns"] - owns) <= 0.00005 + 1e-9
    assert PASSWORD not in result.stdout + result.stderr


def test_ring_table_output_names_every_node(cassandra: LiveCassandra) -> None:
    result = runner.invoke(app, ["cassandra", "ring", "ks_nts", *cassandra.cli_args()], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    for node in cassandra.cluster.nodes:
        assert node.address in result.stdout
    assert "Owns (effective)" in result.stdout
    assert "100.0%" in result.stdout


def _text(rng: random.Random, *, composite: bool) -> str:
    # Unicode, quotes, spaces. nodetool splits composite keys on ':' (a backslash escapes it) and its
    # CompositeType.fromString reads a lone "_" or "!" component, or a trailing "!", as an
    # end-of-component marker; bd's token for such keys matches the server's token() (see below).
    alphabet = "abcXYZ019 '\"é漢字🙂-_.,;!?()[]{}" + ("" if composite else ":")
    while True:
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24)))
        if not composite or (text not in ("_", "!") and not text.endswith("!")):
            return text


def _keys(rng: random.Random, table: str, count: int) -> list[list[str]]:
    out: list[list[str]] = []
    for _ in range(count):
        if table == "t_text":
            out.append([_text(rng, composite=False)])
        elif table == "t_int":
            out.append([str(rng.randint(-(2**31), 2**31 - 1))])
        elif table == "t_uuid":
            out.append([str(uuid.UUID(int=rng.getrandbits(128), version=4))])
        elif table == "t_comp":
            c = uuid.UUID(int=rng.getrandbits(128), version=4)
            out.append([_text(rng, composite=True), str(rng.randint(-(2**31), 2**31 - 1)), str(c)])
        else:  # "OddTable": (text, bigint)
            out.append([_text(rng, composite=True), str(rng.randint(-(2**63), 2**63 - 1))])
    return out


@pytest.mark.parametrize("keyspace", ["ks_nts", "ks_simple", "MixedCase"])
def test_endpoints_of_random_keys_equal_nodetool_getendpoints(cassandra: LiveCassandra, keyspace: str) -> None:
    rng = random.Random(f"endpoints-{keyspace}")
    settings = cassandra.settings()
    cases = []
    for table in ("t_text", "t_int", "t_uuid", "t_comp", "OddTable"):
        keys = _keys(rng, table, 30 if table != "OddTable" else 12)
        for key, ep in zip(keys, find_endpoints_many(settings, keyspace, table, keys), strict=True):
            cases.append((table, key, ep))
    assert len(cases) >= 100
    outputs = cassandra.cluster.nodetool_batch(
        3, [["getendpoints", keyspace, table, ":".join(key)] for table, key, _ in cases]
    )
    for (table, key, ep), out in zip(cases, outputs, strict=True):
        assert list(ep.replicas) == out.split(), (keyspace, table, key, ep.token)
    # the CLI prints the documented shape for a composite key
    table, key, ep = next(c for c in cases if c[0] == "t_comp")
    result = runner.invoke(app, ["cassandra", "endpoints", keyspace, table, *key, "-o", "json", *cassandra.cli_args()])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"token": ep.token, "replicas": list(ep.replicas)}


def test_endpoint_token_equals_the_server_token(cassandra: LiveCassandra) -> None:
    """The Murmur3 token bd computes is the server's own token() of the same row."""
    s = cassandra.session()
    rng = random.Random("tokens")
    keys = _keys(rng, "t_comp", 20)
    for a, b, c in keys:
        s.execute("INSERT INTO ks_nts.t_comp (a, b, c, v) VALUES (%s, %s, %s, 1)", (a, int(b), uuid.UUID(c)))
    settings = cassandra.settings()
    ours = find_endpoints_many(settings, "ks_nts", "t_comp", keys)
    for (a, b, c), ep in zip(keys, ours, strict=True):
        row = s.execute(
            "SELECT token(a, b, c) AS t FROM ks_nts.t_comp WHERE a = %s AND b = %s AND c = %s",
            (a, int(b), uuid.UUID(c)),
        ).one()
        assert row.t == ep.token
