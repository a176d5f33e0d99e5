"""The order in which a batch takes its portals' canonical locks (pure)."""

from __future__ import annotations

from hubsync.ingest.processor import canonical_lock_order


def test_portals_are_locked_in_ascending_order_none_as_the_home_portal() -> None:
    """None (nothing entered) takes the home portal's lock, so it sits where the home portal does:
    a batch naming {None, 5} and another naming {5, 9} with home 9 both lock 5 before 9."""
    assert canonical_lock_order([None, 5], home=9, per_transaction=10) == [[5, None]]
    assert canonical_lock_order([9, 5], home=9, per_transaction=10) == [[5, 9]]
    assert canonical_lock_order([None, 9, 5], home=9, per_transaction=10) in ([[5, None, 9]], [[5, 9, None]])
    assert canonical_lock_order([None, 5], home=3, per_transaction=10) == [[None, 5]]


def test_a_private_apps_single_group_needs_no_home() -> None:
    assert canonical_lock_order([None], home=None, per_transaction=128) == [[None]]


def test_no_transaction_takes_more_locks_than_allowed() -> None:
    groups = canonical_lock_order(list(range(10, 0, -1)), home=None, per_transaction=4)
    assert groups == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]
    assert canonical_lock_order([7, 3], home=None, per_transaction=1) == [[3], [7]]
