"""Cassandra's own token allocator, transcribed: the tokens a joining node picks, exactly.

A transcription (not a port of the Java's structure) of Cassandra 5.0's
`org.apache.cassandra.dht.tokenallocator`:

- `TokenAllocation`: which allocation ring a joining node sees and which allocator runs on it.
  `allocate_tokens_for_local_replication_factor: RF` is a fake NetworkTopologyStrategy with RF in the
  joining node's DC; `allocate_tokens_for_keyspace` uses that keyspace's strategy. With
  NetworkTopologyStrategy and R replicas in the DC, where "racks" counts the DC's racks among ring
  members if the joining node's rack is one of them, else 1 (the joining node is not yet in the
  topology when it allocates, StorageService/BootStrapper.getBootstrapTokens):
  R <= 1: every node of the DC, one replica; racks == R: only the joining node's rack, one replica;
  racks > R: the DC, R replicas, grouped by rack; racks == 1: the DC, R replicas, one group per
  node; otherwise Cassandra refuses to start ("the number of racks ... is lower than its
  replication factor"). SimpleStrategy: the whole ring, RF replicas. Tokens taken by a node of
  another allocation ring move up by one (`adjustForCrossDatacenterClashes`).
- `TokenAllocatorFactory`: one replica -> `NoReplicationTokenAllocator`, else
  `ReplicationAwareTokenAllocator`.
- `TokenAllocatorBase.generateSplits`: for the first nodes (fewer units than replicas, or more
  tokens wanted than the ring holds), repeated splits of the largest range at a ratio drawn from
  `java.util.Random(ring size)`; deterministic unless the allocation ring is empty, where the first
  token is `ThreadLocalRandom`.
- `Murmur3Partitioner`: `midpoint`, `split` (BigDecimal of `Double.toString(ratio)`) and
  `LongToken.size`.

So the result is deterministic given the ring, except when the allocation ring is empty (the
first node of a DC, or of a rack-local ring), which `AllocationResult.random_start` reports. Two
more places where the Java depends on things outside the ring: ties of equal ownership between
whole units in the no-replication allocator (evenly spaced tokens, e.g. hand-set initial_token)
are broken by java.util.HashMap order of the nodes' InetAddressAndPort, which bd reproduces for
IPv4 addresses on storage port 7000 (`java_hash_order`; other addresses keep ring order), and
`split` reads the ratio
through Java 17's `Double.toString`, which bd reads as Python's shortest repr (the two agreed on
200,000 ratios drawn as the allocator draws them). Java's `PriorityQueue` order, ties included, and
`java.util.Random` are reproduced exactly. Only Murmur3Partitioner is supported.
"""

from __future__ import annotations

import bisect
import ipaddress
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Generic, TypeVar

from braindump_cli.cassandra.model import Node
from braindump_cli.errors import UsageError

MIN_TOKEN = -(2**63)
MAX_TOKEN = 2**63 - 1
_MIN_SPLIT = 1.0 - 1.0 / math.sqrt(5.0)
_MAX_SPLIT = _MIN_SPLIT + 0.075
_MAX_TAKEOVER = 0.90
_MIN_TAKEOVER = 1.0 - _MAX_TAKEOVER
MURMUR3 = "org.apache.cassandra.dht.Murmur3Partitioner"
STORAGE_PORT = 7000  # the port in the ring's InetAddressAndPort keys (storage_port), which Java hashes


class AllocationRefusedError(UsageError):
    """Cassandra itself would refuse to allocate tokens for this join (it fails to start)."""


# ------------------------------------------------------------------ Java arithmetic


def _long(v: int) -> int:
    """Two's-complement wrap to a Java long."""
    return (v + 2**63) % 2**64 - 2**63


def token_size(left: int, right: int) -> float:
    """Murmur3Partitioner.LongToken.size: the share of the ring in (left, right]; size(t, t) is 1."""
    d = math.ldexp(float(_long(right - left)), -64)
    return d if d > 0.0 else d + 1.0


def midpoint(left: int, right: int) -> int:
    """Murmur3Partitioner.midpoint (the wrapping range (left, right] when left >= right)."""
    if left < right:
        return (left + right) >> 1
    mid = (MAX_TOKEN - MIN_TOKEN + left + right) >> 1
    if mid > MAX_TOKEN:
        mid = MIN_TOKEN + (mid - MAX_TOKEN)
    return _long(mid)


def split(left: int, right: int, ratio: float) -> int:
    """Murmur3Partitioner.split: exact decimal arithmetic on BigDecimal.valueOf(ratio), truncated."""
    r = Fraction(Decimal(repr(ratio)))
    if left < right:
        return _long(math.trunc((right - left) * r + left))
    token = math.trunc((MAX_TOKEN - MIN_TOKEN + right - left) * r + left)
    return _long(token if token <= MAX_TOKEN else MIN_TOKEN + (token - MAX_TOKEN))


class JavaRandom:
    """java.util.Random's 48-bit linear congruential generator (seeded, so reproducible)."""

    _MULT = 0x5DEECE66D
    _MASK = (1 << 48) - 1

    def __init__(self, seed: int) -> None:
        self._seed = (seed ^ self._MULT) & self._MASK

    def _next(self, bits: int) -> int:
        self._seed = (self._seed * self._MULT + 0xB) & self._MASK
        return self._seed >> (48 - bits)

    def next_double(self) -> float:
        return ((self._next(26) << 27) + self._next(27)) * 2.0**-53


def java_hash_order(names: Sequence[str], *, port: int = STORAGE_PORT) -> list[str]:
    """The iteration order of a java.util.HashMap of InetAddressAndPort keys put in `names` order.

    The hash is Inet4Address's (the address as an int) plus the port (InetSocketAddress); the
    bucket is (h ^ h >>> 16) & (capacity - 1), capacity 16 doubled past 3/4 full; a bucket keeps
    insertion order. Names that are not IPv4 addresses (bd's "new-node-N") keep their order.
    """
    try:
        hashes = [(int(ipaddress.IPv4Address(n)) + port) & 0xFFFFFFFF for n in names]
    except ValueError:
        return list(names)
    capacity = 16
    while len(names) > capacity * 3 // 4:
        capacity *= 2
    buckets = [(h ^ (h >> 16)) & (capacity - 1) for h in hashes]
    return [names[i] for i in sorted(range(len(names)), key=lambda i: buckets[i])]


def _double_compare(a: float, b: float) -> int:
    """java.lang.Double.compare for the finite values the allocator produces (-0.0 < 0.0)."""
    if a < b:
        return -1
    if a > b:
        return 1
    sa, sb = math.copysign(1.0, a), math.copysign(1.0, b)
    return (sa > sb) - (sa < sb)


T = TypeVar("T")


@dataclass
class _Weighted(Generic[T]):
    """TokenAllocatorBase.Weighted: ordered by weight, largest first."""

    weight: float
    value: T

    def before(self, other: _Weighted[T]) -> int:
        return _double_compare(other.weight, self.weight)


class _JavaHeap(Generic[T]):
    """java.util.PriorityQueue's binary heap (siftUp/siftDown as the JDK does them), so ties pop alike."""

    def __init__(self) -> None:
        self._q: list[_Weighted[T]] = []

    def add(self, x: _Weighted[T]) -> None:
        q = self._q
        k = len(q)
        q.append(x)
        while k > 0:
            parent = (k - 1) >> 1
            if x.before(q[parent]) >= 0:
                break
            q[k] = q[parent]
            k = parent
        q[k] = x

    def peek(self) -> _Weighted[T] | None:
        return self._q[0] if self._q else None

    def poll(self) -> _Weighted[T]:
        q = self._q
        result = q[0]
        x = q.pop()
        if q:
            self._sift_down(x)
        return result

    def _sift_down(self, x: _Weighted[T]) -> None:
        q, n, k = self._q, len(self._q), 0
        while k < n >> 1:
            child = 2 * k + 1
            if child + 1 < n and q[child].before(q[child + 1]) > 0:
                child += 1
            if x.before(q[child]) <= 0:
                break
            q[k] = q[child]
            k = child
        q[k] = x


# ------------------------------------------------------------------ allocator state


class _Group:
    __slots__ = ("key",)

    def __init__(self, key: object) -> None:
        self.key = key


class _Unit:
    __slots__ = ("adjusted", "group", "name", "ownership", "prev_used", "token_count")

    def __init__(self, name: str, group: _Group, ownership: float = 0.0) -> None:
        self.name = name
        self.group = group
        self.ownership = ownership
        self.token_count = 0
        self.prev_used: _Unit | None = None
        self.adjusted = 0.0


class _Tok:
    """BaseTokenInfo/TokenInfo: a vnode on a circular list; a candidate also has `split`."""

    __slots__ = ("next", "owner", "prev", "repl_start", "repl_threshold", "replicated", "split", "token")

    def __init__(self, token: int, owner: _Unit, split: _Tok | None = None) -> None:
        self.token = token
        self.owner = owner
        self.split = split
        self.prev: _Tok = self
        self.next: _Tok = self
        self.repl_start = token
        self.repl_threshold = token
        self.replicated = 0.0

    def split_token(self) -> _Tok:
        if self.split is None:
            raise RuntimeError("not a candidate")
        return self.split

    def prev_in_ring(self) -> _Tok:
        return self.split.prev if self.split is not None else self.prev

    def insert_after(self, after: _Tok) -> None:
        self.prev, self.next = after, after.next
        after.next.prev = self
        after.next = self

    def unlink(self) -> None:
        self.next.prev = self.prev
        self.prev.next = self.next


def _circle(items: Sequence[_Tok]) -> _Tok:
    for a, b in zip(items, [*items[1:], items[0]], strict=True):
        a.next, b.prev = b, a
    return items[0]


def _walk(head: _Tok) -> Iterator[_Tok]:
    curr = head
    while True:
        yield curr
        curr = curr.next
        if curr is head:
            return


class _Ring:
    """The allocation ring: sorted tokens and their owning unit names (TreeMap<Token, Unit>)."""

    def __init__(self, owners: Mapping[int, str]) -> None:
        self.tokens = sorted(owners)
        self.owner = dict(owners)

    def put(self, token: int, unit: str) -> None:
        if token not in self.owner:
            bisect.insort(self.tokens, token)
        self.owner[token] = unit

    def units(self) -> list[str]:
        return list(dict.fromkeys(self.owner[t] for t in self.tokens))


class RandomStartError(Exception):
    """The allocation ring is empty: Cassandra picks the first token with ThreadLocalRandom."""


def _generate_splits(ring: _Ring, unit: str, count: int, first_token: int | None = None) -> list[int]:
    """TokenAllocatorBase.generateSplits: split the largest range at a seeded ratio, `count` times.

    On an empty ring Cassandra's first token is random: `first_token` stands for it.
    """
    rnd = JavaRandom(len(ring.tokens))
    growth = _MAX_SPLIT - _MIN_SPLIT
    out: list[int] = []
    if not ring.tokens:
        if first_token is None:
            raise RandomStartError
        out.append(first_token)
        ring.put(first_token, unit)
    while len(out) < count:
        prev, best = ring.tokens[-1], 0.0
        t1, t2 = prev, ring.tokens[0]  # every span is > 0 (size(t, t) is 1), so the loop sets them
        for curr in ring.tokens:
            sz = token_size(prev, curr)
            if sz > best:
                best, t1, t2 = sz, prev, curr
            prev = curr
        t = split(t1, t2, _MIN_SPLIT + growth * rnd.next_double())
        out.append(t)
        ring.put(t, unit)
    return out


# ------------------------------------------------------------------ replication-aware allocator


class _ReplicationAware:
    """ReplicationAwareTokenAllocator: greedy choice among range midpoints, minimising ownership variance."""

    def __init__(self, ring: _Ring, replicas: int, group_of: Callable[[str], object]) -> None:
        self.ring = ring
        self.replicas = replicas
        self.group_of = group_of

    def add_unit(self, new: str, count: int) -> list[int]:
        units = self.ring.units()
        if len(units) < self.replicas or count > len(self.ring.tokens):
            return _generate_splits(self.ring, new, count)
        opt = self.replicas / (len(self.ring.tokens) + count)
        groups: dict[object, _Group] = {}
        infos = {u: _Unit(u, self._group(u, groups)) for u in units}
        if len(groups) < self.replicas:
            return _generate_splits(self.ring, new, count)
        new_unit = _Unit(new, self._group(new, groups), count * opt)
        head = self._token_infos(infos, new_unit.group)
        new_unit.token_count = count
        return self._choose(self._candidates(head, new_unit, opt), new_unit, opt, count)

    def _group(self, unit: str, groups: dict[object, _Group]) -> _Group:
        key = self.group_of(unit)
        return groups.setdefault(key, _Group(key))

    def _token_infos(self, infos: Mapping[str, _Unit], new_group: _Group) -> _Tok:
        toks = []
        for t in self.ring.tokens:
            u = infos[self.ring.owner[t]]
            u.token_count += 1
            toks.append(_Tok(t, u))
        head = _circle(toks)
        for tok in toks:
            self._populate_and_adjust(tok, new_group)
        return head

    def _candidates(self, head: _Tok, new_unit: _Unit, opt: float) -> list[_Tok]:
        out = []
        for curr in _walk(head):
            c = _Tok(midpoint(curr.prev.token, curr.token), new_unit, split=curr)
            c.replicated = opt
            self._populate(c, new_unit.group)
            out.append(c)
        _circle(out)
        return out

    def _choose(self, candidates: list[_Tok], new_unit: _Unit, opt: float, count: int) -> list[int]:
        queue: _JavaHeap[_Tok] = _JavaHeap()
        for c in candidates:
            queue.add(_Weighted(self._improvement(c, opt, 1.0 / count), c))
        best = queue.poll().value
        chosen = []
        for vn in range(1, count + 1):
            best.unlink()
            self._confirm(best)
            chosen.append(best.token)
            if vn == count:
                break
            while True:
                best = queue.poll().value
                impr = self._improvement(best, opt, (vn + 1.0) / count)
                nxt = queue.peek()
                if nxt is None or impr >= nxt.weight:
                    break
                queue.add(_Weighted(impr, best))
        return chosen

    def _populate(self, tok: _Tok, new_group: _Group) -> int:
        """populateTokenInfo: replication start (RF'th group back) and the threshold a new token can move it to."""
        own = tok.owner.group
        seen: set[int] = set()
        threshold = tok.token
        curr = tok.prev_in_ring()
        while True:
            start, group = curr.token, curr.owner.group
            if id(group) not in seen:
                seen.add(id(group))
                if len(seen) >= self.replicas:
                    break
                threshold = start
                if group is own:
                    break
            curr = curr.prev
        if new_group is own:
            threshold = tok.token
        elif new_group is not group and id(new_group) in seen:
            threshold = start
        tok.repl_threshold, tok.repl_start = threshold, start
        return start

    def _populate_and_adjust(self, tok: _Tok, new_group: _Group) -> None:
        start = self._populate(tok, new_group)
        new, old = token_size(start, tok.token), tok.replicated
        tok.replicated = new
        tok.owner.ownership += new - old

    def _improvement(self, cand: _Tok, opt: float, new_unit_mult: float) -> float:
        """evaluateImprovement: minus the change of token and unit ownership variance if `cand` were taken."""
        tracker = _UnitTracker(cand.owner)
        change = 0.0
        change += _adjust(cand, cand.owner, cand.repl_start, cand.token, opt, tracker)
        seen: set[int] = set()
        curr = cand.split_token()
        while len(seen) < self.replicas:
            if id(curr.owner.group) not in seen:
                seen.add(id(curr.owner.group))
                start = _further_start(curr.repl_threshold, cand.token, curr.token)
                change += _adjust(curr, curr.owner, start, curr.token, opt, tracker)
            curr = curr.next
        return -(change + tracker.unit_change(new_unit_mult, opt))

    def _confirm(self, cand: _Tok) -> None:
        """confirmCandidate: put the token in the ring and refresh the vnodes and candidates it affects."""
        new_unit = cand.owner
        self.ring.put(cand.token, new_unit.name)
        tok = _Tok(cand.token, new_unit)
        tok.replicated = cand.replicated
        tok.insert_after(cand.prev_in_ring())
        self._populate_and_adjust(tok, new_unit.group)
        seen: set[int] = set()
        curr = tok.next
        while len(seen) < self.replicas:
            cand = cand.next
            self._populate(cand, new_unit.group)
            if id(curr.owner.group) not in seen:
                seen.add(id(curr.owner.group))
                self._populate_and_adjust(curr, new_unit.group)
            curr = curr.next


def _further_start(t1: int, t2: int, towards: int) -> int:
    if t1 == towards:
        return t2
    if t2 == towards:
        return t1
    return t1 if token_size(t1, towards) > token_size(t2, towards) else t2


def _sq(d: float) -> float:
    return d * d


def _adjust(tok: _Tok, unit: _Unit, start: int, end: int, opt: float, tracker: _UnitTracker) -> float:
    """applyOwnershipAdjustment: the token's variance change, recording the unit's."""
    old, new = tok.replicated, token_size(start, end)
    tracker.add(unit, new - old)
    return (_sq(new - opt) - _sq(old - opt)) / _sq(float(unit.token_count))


class _UnitTracker:
    """UnitAdjustmentTracker: a chain of affected units, summed newest first; the new unit closes it."""

    def __init__(self, new_unit: _Unit) -> None:
        self.chain = new_unit

    def add(self, unit: _Unit, diff: float) -> None:
        if unit.prev_used is None:
            unit.adjusted = unit.ownership + diff
            unit.prev_used = self.chain
            self.chain = unit
        else:
            unit.adjusted += diff

    def unit_change(self, new_unit_mult: float, opt: float) -> float:
        total = 0.0
        u = self.chain
        while True:
            tc = float(u.token_count)
            diff = _sq(u.adjusted / tc - opt) - _sq(u.ownership / tc - opt)
            prev = u.prev_used
            u.prev_used = None
            if u is not prev:
                total += diff
            else:
                total += diff * new_unit_mult
                break
            if prev is None:
                raise RuntimeError("broken unit chain")
            u = prev
        self.chain = u
        return total


# ------------------------------------------------------------------ no-replication allocator


class _NoReplication:
    """NoReplicationTokenAllocator: take over slices of the largest vnodes of the most loaded units."""

    def __init__(self, ring: _Ring) -> None:
        self.ring = ring
        self.units: _JavaHeap[_Unit] = _JavaHeap()
        self.per_unit: dict[str, _JavaHeap[_Tok]] = {}

    def add_unit(self, new: str, count: int) -> list[int]:
        names = self.ring.units()
        if not names or count > len(self.ring.tokens):
            return _generate_splits(self.ring, new, count)
        infos = {u: _Unit(u, _Group(u)) for u in names}
        head = self._token_infos(infos)
        taken, target_average = self._units_to_change(count)
        size_correction = min(1.0, (count + 1.0) / (len(infos) + 1.0))
        spread = target_average * size_correction * 2.0 / (2 * count + 1)
        target = target_average + spread / 2
        step = spread / len(taken) if taken else math.inf
        new_unit = _Unit(new, _Group(new))
        out: list[int] = []
        for nr, unit in enumerate(taken):
            share = count // len(taken) + (1 if nr < count % len(taken) else 0)
            out += self._take_over(head, unit, new_unit, share, target)
            self.units.add(_Weighted(unit.value.ownership, unit.value))
            target -= step
        return out

    def _token_infos(self, infos: Mapping[str, _Unit]) -> _Tok:
        toks = [_Tok(t, infos[self.ring.owner[t]]) for t in self.ring.tokens]
        head = _circle(toks)
        for tok in toks:
            self._populate(tok)
        for name in java_hash_order(list(infos)):
            self.units.add(_Weighted(infos[name].ownership, infos[name]))
        return head

    def _populate(self, tok: _Tok) -> None:
        tok.repl_start = tok.prev.token
        tok.repl_threshold = tok.token
        tok.replicated = token_size(tok.repl_start, tok.token)
        tok.owner.ownership += tok.replicated
        self.per_unit.setdefault(tok.owner.name, _JavaHeap()).add(_Weighted(tok.replicated, tok))

    def _units_to_change(self, count: int) -> tuple[list[_Weighted[_Unit]], float]:
        taken: list[_Weighted[_Unit]] = []
        total, target_average = 0.0, 0.0
        for _ in range(count):
            unit = self.units.peek()
            if unit is None:
                break
            total += unit.weight
            average = total / (len(taken) + 2)
            if unit.weight <= average:
                break
            self.units.poll()
            taken.append(unit)
            target_average = average
        return taken, target_average

    def _take_over(self, head: _Tok, unit: _Weighted[_Unit], new_unit: _Unit, share: int, target: float) -> list[int]:
        heap = self.per_unit[unit.value.name]
        vnodes = []
        work = 0.0
        for _ in range(share):
            wt = heap.poll()
            vnodes.append(wt)
            work += wt.weight
            unit.value.ownership -= wt.weight
        to_take = unit.weight - target
        out = []
        for wt in vnodes:
            ratio = min(max(to_take / work, _MIN_TAKEOVER), _MAX_TAKEOVER) if to_take < work else _MAX_TAKEOVER
            token = split(wt.value.prev.token, wt.value.token, ratio)
            self.ring.put(token, new_unit.name)
            tok = _Tok(token, new_unit)
            tok.insert_after(wt.value.prev)
            self._populate(tok)
            self._populate(wt.value)
            out.append(token)
        return out


# ------------------------------------------------------------------ TokenAllocation


@dataclass(frozen=True)
class AllocationRing:
    """What a joining node allocates against: the members in its ring, the replicas, how units group."""

    members: tuple[str, ...]
    replicas: int
    group_by_rack: bool
    description: str


def allocation_ring(
    members: Sequence[Node], *, dc: str, rack: str, replicas: int, simple: bool = False
) -> AllocationRing:
    """TokenAllocation.createStrategy for a node joining `dc`/`rack` with `replicas` copies in its DC."""
    if simple:
        return AllocationRing(tuple(m.address for m in members), replicas, False, "the whole ring (SimpleStrategy)")
    in_dc = [m for m in members if m.datacenter == dc]
    dc_racks = {m.rack for m in in_dc}
    racks = len(dc_racks) if rack in dc_racks else 1
    names = tuple(m.address for m in in_dc)
    if replicas <= 1:
        return AllocationRing(names, 1, False, f"every node of {dc}, one replica")
    if racks == replicas:
        rack_names = tuple(m.address for m in in_dc if m.rack == rack)
        return AllocationRing(rack_names, 1, False, f"only rack {rack} of {dc} ({racks} racks = RF)")
    if racks > replicas:
        return AllocationRing(names, replicas, True, f"{dc} grouped by rack ({racks} racks > RF {replicas})")
    if racks == 1:
        return AllocationRing(names, replicas, False, f"every node of {dc} ({replicas} replicas)")
    raise AllocationRefusedError(
        f"Cassandra refuses to allocate: {dc} has {racks} racks, fewer than its replication factor {replicas}",
        hint="a joining node would fail to start; give the DC as many racks as the RF, or one rack, or more racks",
    )


@dataclass(frozen=True)
class AllocationResult:
    tokens: tuple[int, ...]  # sorted
    ring: AllocationRing
    random_start: bool  # the allocation ring was empty: the first token is random, the rest follow from it


def allocate_tokens(
    members: Sequence[Node],
    *,
    address: str,
    dc: str,
    rack: str,
    num_tokens: int,
    replicas: int,
    simple: bool = False,
    first_token: int | None = None,
) -> AllocationResult:
    """The tokens Cassandra's allocator gives a node joining `members` (TokenAllocation.allocate).

    `first_token` stands for Cassandra's random first token where the allocation ring is empty;
    without it such a join raises RandomStartError.
    """
    if num_tokens < 1:
        raise UsageError("num_tokens must be >= 1")
    target = allocation_ring(members, dc=dc, rack=rack, replicas=replicas, simple=simple)
    inside = set(target.members)
    ring = _Ring({t: m.address for m in members if m.address in inside for t in m.tokens})
    rack_of = {m.address: m.rack for m in members} | {address: rack}
    random_start = not ring.tokens
    if random_start:
        chosen = _generate_splits(ring, address, num_tokens, first_token)
    elif target.replicas == 1:
        chosen = _NoReplication(ring).add_unit(address, num_tokens)
    else:
        group_of: Callable[[str], object] = (lambda u: rack_of[u]) if target.group_by_rack else (lambda u: u)
        chosen = _ReplicationAware(ring, target.replicas, group_of).add_unit(address, num_tokens)
    taken = {t: m.address for m in members for t in m.tokens}
    out = []
    for t in chosen:
        while t in taken:
            if taken[t] in inside:
                raise AllocationRefusedError(f"allocated token {t} is already assigned to node {taken[t]}")
            t = _long(t + 1)
        out.append(t)
    return AllocationResult(tuple(sorted(out)), target, random_start)
