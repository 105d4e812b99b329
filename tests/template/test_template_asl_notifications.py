"""No run ends silently: every Task catches everything, and every way out of a run publishes to SNS first."""

from __future__ import annotations

from typing import Any


def catches_everything(state: dict[str, Any]) -> bool:
    return any(
        "States.ALL" in (catcher.get("ErrorEquals") or []) and "Next" in catcher for catcher in state.get("Catch") or []
    )


def test_task_state_catches_states_all(task_state: Any) -> None:
    """A Task inside a Map or Parallel is covered when its enclosing state catches States.ALL."""
    covered = catches_everything(task_state.definition) or any(
        catches_everything(enclosing) for enclosing in task_state.scope.enclosing
    )
    assert covered, (
        f"{task_state.key} ({task_state.resource}) has no Catch on States.ALL, so its failure ends the run "
        "without a notification"
    )


def test_states_all_catcher_is_the_last_catcher(task_state: Any) -> None:
    """Catchers are tried in order, and States.ALL must appear alone in the last one."""
    catchers = task_state.definition.get("Catch") or []
    for index, catcher in enumerate(catchers):
        errors = catcher.get("ErrorEquals") or []
        if "States.ALL" in errors:
            assert errors == ["States.ALL"], f"{task_state.key}: Catch[{index}] mixes States.ALL with {errors}"
            assert index == len(catchers) - 1, f"{task_state.key}: Catch[{index}] on States.ALL hides later catchers"


# Terminal states allowed to end without a notification, each with the reason. Keep this short.
SILENT_BY_DESIGN = {
    "RollbackStateMachine:AlreadyHandled": (
        "a duplicate or stale alarm event; the rollback it asks for already ran and notified"
    ),
}


def test_terminal_state_is_only_reachable_through_an_sns_publish(terminal_state: Any, asl_graph: Any) -> None:
    """Walk the graph from StartAt without passing any sns:publish Task: no Succeed, Fail or End may be found."""
    states = terminal_state.scope.states
    if asl_graph.is_sns_publish(terminal_state.definition) or terminal_state.key in SILENT_BY_DESIGN:
        return
    publishers = [name for name, state in states.items() if asl_graph.is_sns_publish(state)]
    silent = asl_graph.reachable(states, terminal_state.scope.start_at, blocked=publishers)
    assert terminal_state.name not in silent, (
        f"{terminal_state.key} ({terminal_state.type}) can be reached from StartAt without publishing a notification: "
        f"{silent_path(states, terminal_state.scope.start_at, terminal_state.name, set(publishers), asl_graph)}"
    )


def silent_path(states: dict[str, Any], start: str, goal: str, blocked: set[str], asl_graph: Any) -> str:
    """One shortest path from ``start`` to ``goal`` avoiding ``blocked``, for the failure message."""
    previous: dict[str, str | None] = {start: None}
    frontier = [start]
    while frontier and goal not in previous:
        following: list[str] = []
        for name in frontier:
            for target in sorted(asl_graph.successors(states, name)):
                if target not in previous and target not in blocked:
                    previous[target] = name
                    following.append(target)
        frontier = following
    path: list[str] = []
    node: str | None = goal if goal in previous else None
    while node is not None:
        path.append(node)
        node = previous[node]
    return " -> ".join(reversed(path))
