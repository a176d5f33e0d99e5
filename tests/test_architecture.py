"""The layer contracts of ``pyproject.toml`` hold, and every package of hubsync is placed in them."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import hubsync

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(hubsync.__file__).parent
#: beside the layers: test doubles and dev tools production never imports (checked by a contract)
BESIDE = {"sandbox", "testing", "devstack"}


def _contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def _layered() -> set[str]:
    (layers,) = (c for c in _contracts() if c["type"] == "layers")
    names: set[str] = set()
    for layer in layers["layers"]:  # type: ignore[attr-defined]
        names.update(part.strip() for part in str(layer).split("|"))
    return names


def test_every_package_is_in_a_layer_or_beside_them() -> None:
    found = {
        p.stem if p.is_file() else p.name
        for p in PACKAGE.iterdir()
        if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and p.stem != "__init__")
    }
    found.discard("__main__")
    unplaced = found - _layered() - BESIDE
    assert not unplaced, f"place these in pyproject.toml's layers (docs/architecture.md#layers): {unplaced}"
    assert not (_layered() & BESIDE)


def test_production_never_imports_the_test_doubles() -> None:
    (contract,) = (c for c in _contracts() if c["id"] == "test-doubles-beside-production")
    sources = {str(m).removeprefix("hubsync.") for m in contract["source_modules"]}  # type: ignore[attr-defined]
    assert sources == _layered() - {"cli", "demo"}
    assert set(contract["forbidden_modules"]) == {f"hubsync.{b}" for b in BESIDE}  # type: ignore[arg-type]


def test_the_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
