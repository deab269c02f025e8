"""Consistency verdicts against the server itself: kill one node, then two, and run every level.

For each keyspace bd predicts, per token range and level, whether a read and a write can be served
now; the test then writes and reads keys of those ranges at that level through a dc1 coordinator
(127.0.0.2, never killed) and requires success exactly where bd said yes and `Unavailable` exactly
where bd said no. Keys are chosen so every distinct predicted behaviour is exercised, plus random ones.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from typer.testing import CliRunner

from braindump_cli.cassandra.keys import partition_key_token
from braindump_cli.cli.app import app
from tests.cassandra.conftest import LiveCassandra, wait_for_status

pytestmark = [pytest.mark.cassandra, pytest.mark.slow]

runner = CliRunner()
KEYSPACES = ("ks_simple", "ks_nts", "ks_nts3")
COORDINATOR = "127.0.0.2"


def _bd_consistency(live: LiveCassandra, keyspace: str, *extra: str) -> dict[str, Any]:
    result = runner.invoke(
        app, ["cassandra", "consistency", keyspace, "--ranges", "-o", "json", *live.cli_args(), *extra]
    )
    assert result.exit_code == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["schema_version"] == 1
    return report


def _range_of(ranges: list[dict[str, Any]], token: int) -> dict[str, Any]:
    for r in ranges:
        start, end = r["start"], r["end"]
        inside = start < token <= end if start < end else (token > start or token <= end)
        if inside:
            return r
    raise AssertionError(f"no range holds token {token}")


def _pick_keys(ranges: list[dict[str, Any]], rng: random.Random) -> list[tuple[int, dict[str, Any]]]:
    """One int key per distinct predicted behaviour, plus six random keys."""
    chosen: dict[str, tuple[int, dict[str, Any]]] = {}
    candidates = [rng.randint(-(2**31), 2**31 - 1) for _ in range(3000)]
    for k in candidates:
        r = _range_of(ranges, partition_key_token(["int"], [k]))
        signature = json.dumps({lv: (v["read"], v["write"]) for lv, v in r["levels"].items()}, sort_keys=True)
        chosen.setdefault(signature, (k, r))
    extra = [(k, _range_of(ranges, partition_key_token(["int"], [k]))) for k in candidates[-6:]]
    return list(chosen.values()) + extra


def _attempt(session: Any, keyspace: str, level: str, key: int, op: str) -> bool | None:
    """True: served; False: Unavailable; None: the server rejects the level for this operation."""
    from cassandra.query import SimpleStatement

    from cassandra import ConsistencyLevel, InvalidRequest, Unavailable

    cl = getattr(ConsistencyLevel, level)
    if op == "write":
        stmt = SimpleStatement(f"INSERT INTO {keyspace}.t_int (k, v) VALUES (%s, 1)", consistency_level=cl)
    else:
        stmt = SimpleStatement(f"SELECT v FROM {keyspace}.t_int WHERE k = %s", consistency_level=cl)
    try:
        session.execute(stmt, (key,))
    except Unavailable:
        return False
    except InvalidRequest:
        return None
    return True


def _check_against_server(live: LiveCassandra, phase: str, session: Any) -> int:
    checked = 0
    mismatches = []
    for keyspace in KEYSPACES:
        report = _bd_consistency(live, keyspace)
        rng = random.Random(f"{phase}-{keyspace}")
        for key, r in _pick_keys(report["ranges"], rng):
            for level, predicted in r["levels"].items():
                for op in ("write", "read"):
                    got = _attempt(session, keyspace, level, key, op)
                    checked += 1
                    if got != predicted[op]:
                        mismatches.append((phase, keyspace, level, op, key, r["replicas"], r["live"], predicted, got))
    assert not mismatches, "\n".join(map(str, mismatches))
    return checked


def test_verdicts_match_the_server_with_one_then_two_nodes_down(full_cluster: LiveCassandra) -> None:
    live = full_cluster
    session = live.session(COORDINATOR)

    # what bd predicts for "node 1 down" while it is still up must equal what it reports once it is
    simulated = {ks: _bd_consistency(live, ks, "--down", "127.0.0.1") for ks in KEYSPACES}

    checked = _check_against_server(live, "all-up", session)

    live.cluster.kill_node(1)
    wait_for_status(live, {"127.0.0.1": "D", "127.0.0.2": "U", "127.0.0.3": "U", "127.0.0.4": "U"}, observer=2)
    for ks in KEYSPACES:
        actual = _bd_consistency(live, ks)
        assert actual["down"] == ["127.0.0.1"]
        assert actual["levels"] == simulated[ks]["levels"]
        assert [r["levels"] for r in actual["ranges"]] == [r["levels"] for r in simulated[ks]["ranges"]]
    checked += _check_against_server(live, "node1-down", session)

    live.cluster.kill_node(4)
    wait_for_status(live, {"127.0.0.1": "D", "127.0.0.2": "U", "127.0.0.3": "U", "127.0.0.4": "D"}, observer=2)
    checked += _check_against_server(live, "node1+4-down", session)
    assert checked > 500

    # the verdicts that make these phases interesting really occurred
    nts = _bd_consistency(live, "ks_nts")
    by_level = {lv["level"]: lv for lv in nts["levels"]}
    assert by_level["ALL"]["write"]["achievable"] is False
    assert by_level["EACH_QUORUM"]["write"]["achievable"] is False
    assert by_level["LOCAL_ONE"]["write"]["achievable"] is True
    assert by_level["ANY"]["read"]["achievable"] is None

    # --require gates on the live state: exit 4 with the report still on stdout
    failed = runner.invoke(app, ["cassandra", "consistency", "ks_nts", "--require", "QUORUM", *live.cli_args()])
    assert failed.exit_code == 4, failed.stderr
    assert "QUORUM is not achievable" in failed.stderr
    assert "QUORUM" in failed.stdout
    ok = runner.invoke(app, ["cassandra", "consistency", "ks_nts", "--require", "LOCAL_ONE", *live.cli_args()])
    assert ok.exit_code == 0, ok.stderr

    # bd ring agrees with nodetool on who is down
    ring = runner.invoke(app, ["cassandra", "ring", "-o", "json", *live.cli_args()])
    assert ring.exit_code == 0, ring.stderr
    assert {n["address"]: n["up"] for n in json.loads(ring.stdout)} == {
        "127.0.0.1": False,
        "127.0.0.2": True,
        "127.0.0.3": True,
        "127.0.0.4": False,
    }
