"""What a delete-dag run returns (the `-o json` document), whichever way it deleted."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DeleteResult:
    """What was (or, with dry_run, would be) deleted. Fields are the `-o json` document."""

    dag_ids: tuple[str, ...]
    dry_run: bool
    deleted: dict[str, int]
    total: int
    archive: str | None
    warnings: tuple[str, ...] = field(default=(), repr=False)
    batch_size: int | None = None
    """None: one transaction."""
    batches: dict[str, int] = field(default_factory=dict)
    """Transactions per table (the plan of a batched delete; one per table and branch at least)."""
    locks: str = "one transaction: every deleted row stays locked until the commit"
    """Which rows other sessions may wait for, and for how long."""
    auto_batched: bool = False
    """Batched because the rows exceeded AUTO_BATCH_ROWS and neither --batch-size nor --one-transaction
    was given."""
