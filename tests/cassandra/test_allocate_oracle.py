"""bd's transcription of Cassandra's token allocator against Cassandra's own, token for token.

The oracle is `oracle/BdTokenAllocOracle.java`: Cassandra 5.0.8's `TokenAllocation.allocateTokens`
run offline (one JVM for every case) on the cached cassandra-all jars, with the TokenMetadata and
snitch set up as Cassandra's OfflineTokenAllocator does. No node runs, so this is not a
`cassandra` test; without Java or the jars it fails and says why (it never skips).

The rings: random initial tokens and rings the allocator grew itself, one to three data centres,
one to four racks, num_tokens 4/16/256, allocate_tokens_for_local_replication_factor 1/2/3, and
keyspace strategies (SimpleStrategy, NetworkTopologyStrategy). Every join is compared on the very
ring Cassandra saw (the oracle's previous joins), so one miss cannot hide behind another. Evenly
spaced rings make vnodes and whole nodes tie, where Java's PriorityQueue and HashMap orders decide. Where the
allocation ring is empty Cassandra's first token is random: bd must reproduce the whole set from
one of the oracle's tokens taken as that first token.
"""

from __future__ import annotations

import random
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from braindump_cli.cassandra.allocate import (
    AllocationRefusedError,
    RandomStartError,
    allocate_tokens,
)
from braindump_cli.cassandra.model import Node
from braindump_cli.sandbox.servers.cassandra.jars import ensure_cassandra_jars, java_command
from braindump_cli.sandbox.servers.cassandra.nodetool import NODETOOL_FAST_FLAGS, tools_logback

pytestmark = pytest.mark.slow

ORACLE = Path(__file__).parent / "oracle" / "BdTokenAllocOracle.java"
LOW, HIGH = -(2**63) + 1, 2**63 - 1


@dataclass
class Join:
    address: str
    dc: str
    rack: str
    num_tokens: int
    mode: str  # L (local RF), S (SimpleStrategy keyspace), N (NTS keyspace)
    rf: str  # "3", or "dc1:3,dc2:2" for N


@dataclass
class Case:
    name: str
    nodes: list[Node]
    joins: list[Join] = field(default_factory=list)


def _random_members(rng: random.Random, placement: list[tuple[str, str]], num_tokens: int) -> list[Node]:
    taken: set[int] = set()
    out = []
    for i, (dc, rack) in enumerate(placement):
        tokens: set[int] = set()
        while len(tokens) < num_tokens:
            t = rng.randint(LOW, HIGH)
            if t not in taken:
                taken.add(t)
                tokens.add(t)
        out.append(Node(f"10.0.{i // 200}.{i % 200 + 1}", dc, rack, tuple(sorted(tokens))))
    return out


def _joins(start: int, placement: list[tuple[str, str]], num_tokens: int, mode: str, rf: str) -> list[Join]:
    return [
        Join(f"10.1.{(start + i) // 200}.{(start + i) % 200 + 1}", dc, rack, num_tokens, mode, rf)
        for i, (dc, rack) in enumerate(placement)
    ]


ONE_RACK = [("dc1", "r1")]
THREE_RACKS = [("dc1", "r1"), ("dc1", "r2"), ("dc1", "r3")]
FOUR_RACKS = [*THREE_RACKS, ("dc1", "r4")]
Spec = tuple[list[Node], list[tuple[str, str]], int, str, str]  # ring, joins' placement, num_tokens, mode, rf


def _grid(rng: random.Random) -> list[Spec]:
    """Random rings of 1-8 nodes on 1, 3 or 4 racks, num_tokens 4 and 16, local RF 1, 2, 3."""
    out = []
    for num_tokens in (4, 16):
        for rf in ("1", "2", "3"):
            for size in (1, 2, 3, 5, 8):
                for racks in (ONE_RACK, THREE_RACKS, FOUR_RACKS):
                    placement = [racks[i % len(racks)] for i in range(size)]
                    joins = [racks[(size + i) % len(racks)] for i in range(4)]
                    out.append((_random_members(rng, placement, num_tokens), joins, num_tokens, "L", rf))
    return out


def _special(rng: random.Random) -> list[Spec]:
    out: list[Spec] = []
    # two and three DCs: joins into a DC with fewer nodes than RF, into an empty DC (random start)
    for num_tokens in (4, 16):
        placement = [("dc1", "r1"), ("dc1", "r2"), ("dc1", "r3"), ("dc2", "r1"), ("dc1", "r1"), ("dc1", "r2")]
        joins = [("dc2", "r1"), ("dc2", "r1"), ("dc2", "r1"), ("dc1", "r3"), ("dc3", "a"), ("dc3", "a"), ("dc3", "b")]
        out.append((_random_members(rng, placement, num_tokens), joins, num_tokens, "L", "3"))
    # a DC grown from nothing by the allocator itself, as a stock 5.0 cluster is
    for num_tokens, rf in ((4, "3"), (16, "3"), (16, "1"), (8, "2")):
        racks = THREE_RACKS if rf != "2" else [("dc1", "r1"), ("dc1", "r2")]
        out.append(([], [racks[i % len(racks)] for i in range(9)], num_tokens, "L", rf))
    # 256 vnodes
    for rf in ("1", "3"):
        out.append((_random_members(rng, [("dc1", "r1")] * 4, 256), [("dc1", "r1")] * 2, 256, "L", rf))
    # allocate_tokens_for_keyspace: SimpleStrategy and NetworkTopologyStrategy
    for mode, rf in (("S", "3"), ("S", "1"), ("N", "dc1:3,dc2:2"), ("N", "dc1:2,dc2:1")):
        placement = [("dc1", "r1"), ("dc1", "r2"), ("dc1", "r1"), ("dc2", "r1"), ("dc2", "r2"), ("dc1", "r2")]
        joins = [("dc1", "r1"), ("dc2", "r1"), ("dc2", "r2"), ("dc1", "r2")]
        out.append((_random_members(rng, placement, 16), joins, 16, mode, rf))
    return out


def _even(rng: random.Random) -> list[Spec]:
    """Evenly spaced rings: equal vnodes and whole nodes tie, and Java's PriorityQueue and HashMap orders decide.

    The addresses are scattered (not in ring order), as HashMap order of addresses breaks unit ties.
    """
    out: list[Spec] = []
    shapes = [(6, "3", ONE_RACK), (6, "3", FOUR_RACKS), (6, "2", ONE_RACK)]
    shapes += [(3, "1", ONE_RACK), (7, "1", ONE_RACK), (20, "1", ONE_RACK), (9, "3", THREE_RACKS)]
    for size, rf, racks in shapes:
        step = 2**64 // (size * 4)
        members = [
            Node(
                f"10.{rng.randint(2, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                "dc1",
                racks[i % len(racks)][1],
                tuple(LOW + step * (i + size * k) for k in range(4)),
            )
            for i in range(size)
        ]
        out.append((members, [racks[i % len(racks)] for i in range(3)], 4, "L", rf))
    return out


def _cases() -> list[Case]:
    rng = random.Random(20261201)
    specs = [*_grid(rng), *_special(rng), *_even(rng)]
    cases = []
    for n, (members, joins, num_tokens, mode, rf) in enumerate(specs):
        case = Case(f"c{n}", members)
        case.joins = _joins(n * 10, joins, num_tokens, mode, rf)
        cases.append(case)
    return cases


def _oracle_input(cases: list[Case]) -> str:
    lines = []
    for case in cases:
        lines.append(f"RING {case.name}")
        lines += [f"NODE {m.address} {m.datacenter} {m.rack} {','.join(map(str, m.tokens))}" for m in case.nodes]
        lines += [f"JOIN {j.address} {j.dc} {j.rack} {j.num_tokens} {j.mode} {j.rf}" for j in case.joins]
    return "\n".join(lines) + "\n"


def _run_oracle(cases: list[Case], workdir: Path) -> dict[tuple[str, str], str]:
    try:
        lib = ensure_cassandra_jars()
        cmd = java_command(
            lib,
            str(ORACLE),
            jvm=["-Xmx512M", *NODETOOL_FAST_FLAGS, f"-Dlogback.configurationFile={tools_logback(workdir)}"],
        )
    except (FileNotFoundError, RuntimeError) as e:
        pytest.fail(f"the Cassandra allocator oracle cannot run: {e}", pytrace=False)
    proc = subprocess.run(cmd, input=_oracle_input(cases), capture_output=True, text=True, timeout=600, check=False)
    out = {}
    for line in proc.stdout.splitlines():
        if line.startswith("@@ "):
            _, ring, address, rest = line.split(" ", 3)
            out[(ring, address)] = rest
    expected = sum(len(c.joins) for c in cases)
    assert proc.returncode == 0, f"oracle failed ({proc.returncode}): {proc.stderr[-3000:]}"
    assert len(out) == expected, f"oracle answered {len(out)} of {expected} joins: {proc.stderr[-3000:]}"
    return out


def _bd(members: list[Node], join: Join, first_token: int | None = None) -> tuple[int, ...]:
    if join.mode == "N":
        factors = dict(p.split(":") for p in join.rf.split(","))
        replicas, simple = int(factors.get(join.dc, "0")), False
    else:
        replicas, simple = int(join.rf), join.mode == "S"
    result = allocate_tokens(
        members,
        address=join.address,
        dc=join.dc,
        rack=join.rack,
        num_tokens=join.num_tokens,
        replicas=replicas,
        simple=simple,
        first_token=first_token,
    )
    return result.tokens


def _compare(members: list[Node], join: Join, answer: str) -> str:
    """'' when bd agrees with Cassandra on this join, else what differs."""
    status, _, detail = answer.partition(" ")
    if status == "ERR":
        try:
            got = _bd(members, join)
        except AllocationRefusedError:
            return ""
        return f"Cassandra refused ({detail}); bd gave {got}"
    want = tuple(int(t) for t in detail.split(","))
    try:
        got = _bd(members, join)
    except RandomStartError:
        # the oracle's first token was random: one of its tokens, taken as that first, must give them all
        if any(_bd(members, join, first_token=t) == want for t in want):
            return ""
        return f"no first token reproduces Cassandra's random-start allocation {want}"
    except AllocationRefusedError as e:
        return f"bd refused ({e.message}); Cassandra gave {want}"
    return "" if got == want else f"bd {got} != Cassandra {want}"


def test_allocator_matches_cassandra_token_for_token(tmp_path: Path) -> None:
    cases = _cases()
    answers = _run_oracle(cases, tmp_path)
    misses = []
    kinds = {"OK": 0, "ERR": 0}
    for case in cases:
        members = list(case.nodes)
        for join in case.joins:
            answer = answers[(case.name, join.address)]
            kinds[answer.split(" ", 1)[0]] += 1
            miss = _compare(members, join, answer)
            if miss:
                misses.append(f"{case.name} {join}: {miss}")
            if answer.startswith("OK "):
                tokens = tuple(int(t) for t in answer[3:].split(","))
                members.append(Node(join.address, join.dc, join.rack, tokens))
    assert not misses, f"{len(misses)} of {sum(kinds.values())} joins differ:\n" + "\n".join(misses[:10])
    # the cases reach both outcomes: allocations, and Cassandra's refusals (fewer racks than RF)
    assert kinds["OK"] > 150, kinds
    assert kinds["ERR"] > 0, kinds
