"""The imports go one way: channels -> engine -> storage, and effects -> delivery -> destinations."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(package: str) -> dict[str, set[str]]:
    """Every module of `package` and the top-level names of what it imports."""
    found = {}
    for path in (ROOT / package).rglob("*.py"):
        if "migrations" in path.parts:
            continue
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def _offenders(package: str, forbidden: tuple[str, ...]) -> list[tuple[str, str]]:
    return sorted(
        (module, name)
        for module, names in _imports(package).items()
        for name in names
        if name.split(".")[0] in forbidden or name.startswith(forbidden)
    )


def test_the_engine_knows_no_channel_no_delivery_and_no_sqlalchemy() -> None:
    assert _offenders("dialogs", ("bot", "telegram", "sqlalchemy", "sqlmodel", "httpx")) == []


def test_storage_knows_neither_the_dialog_nor_the_channels() -> None:
    assert _offenders("storage", ("bot", "dialogs", "telegram")) == []


def test_the_benchmarks_do_not_reach_into_the_tests() -> None:
    assert _offenders("bench", ("tests",)) == []


def test_only_the_storage_layer_touches_a_database_session() -> None:
    """Channels and the delivery worker go through `Records`, never its SQLAlchemy session."""
    for path in (ROOT / "bot").rglob("*.py"):
        if "testing" not in path.parts:
            assert not re.search(r"\.session\b", path.read_text(encoding="utf-8")), path


COORDINATOR_SURFACES = ("bot/web/console.py", "bot/coordinators.py", "bot/cli.py")


def test_every_coordinator_surface_goes_through_the_coordination_service() -> None:
    """The console, the Telegram coordinator commands and the `intake` command call one service for
    referrals, exports, erasure and the funnel, so permissions, audit names and the export policy
    are the same on each: none of them reaches the repository, or the views over it, itself."""
    imports = _imports("bot")
    for surface in COORDINATOR_SURFACES:
        names = imports[surface]
        assert "bot.coordination.service" in names, surface
        reached = sorted(
            n for n in names if n.startswith(("storage.repository", "storage.views", "sqlmodel"))
        )
        assert reached == [], f"{surface} reaches storage itself: {reached}"


def test_dialogs_keep_decisions_only() -> None:
    """Cards, reports and the FHIR export are the study team's side (bot/coordination), not the dialog's."""
    assert not any((ROOT / "dialogs" / f"{name}.py").exists() for name in ("reports", "fhir"))
    assert _offenders("dialogs", ("fhir",)) == []
