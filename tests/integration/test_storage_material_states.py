"""The SQL stores rebuild exactly the states a cycle held when it stored only material changes."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings

from bot.storage.facade import Storage
from tests.fakes.material_cycles import Planned, plans, run_plan

# One database for every example: each runs on an exchange of its own, so none sees another's rows.
_EXCHANGES = (f"x{n}" for n in itertools.count())


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=plans)
def test_the_sql_stores_load_back_the_states_held_in_memory(storage: Storage, plan: list[Planned]) -> None:
    run_plan(storage, next(_EXCHANGES), plan)
