"""The one-way stack (.importlinter, docs/ARCHITECTURE.md "Layout"): `make test` runs
`lint-imports` first; these tests show the contracts hold here and that they catch the
imports they forbid."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "exchanges", "copytrade", "marketplace", "billing", "web", "devtools", "config")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=120)


@pytest.fixture
def tree_copy(tmp_path):
    """The product's packages and the contracts, copied: a place to add a forbidden import."""
    for package in PACKAGES:
        shutil.copytree(BASE_DIR / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(BASE_DIR / ".importlinter", tmp_path / ".importlinter")
    return tmp_path


def add_import(root: Path, module: str, line: str) -> None:
    path = root / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + f"\n{line}\n")


@pytest.mark.slow  # `make check` runs lint-imports itself
def test_the_import_contracts_hold():
    result = lint_imports(BASE_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("exchanges.services", "from copytrade.models import Strategy", "exchanges is not allowed to import copytrade"),
        ("core.money", "import billing.models", "core is not allowed to import billing"),
        ("billing.services.runs", "import web.fees", "billing is not allowed to import web"),
        ("devtools.demo", "import web.views", "devtools is not allowed to import web"),
        ("web.views", "import devtools.demo", "web is not allowed to import devtools"),
        (
            "copytrade.services.execution",
            "from devtools.simulator.client import SimulatorClient",
            "copytrade is not allowed to import devtools",
        ),
        ("marketplace.metrics", "from config.celery import app", "marketplace is not allowed to import config"),
        (
            "billing.services.runs",
            "from billing.tasks import run_monthly_billing",
            "billing.services is not allowed to import billing.tasks",
        ),
        ("marketplace.terms", "import marketplace.services", "No cycles are allowed in marketplace"),
    ],
    ids=[
        "upward",
        "core upward",
        "into the pages",
        "devtools into the pages",
        "the pages into devtools",
        "devtools",
        "config",
        "service to its task",
        "a circle inside an app",
    ],
)
def test_a_forbidden_import_breaks_a_contract(tree_copy, module, line, contract):
    add_import(tree_copy, module, line)

    result = lint_imports(tree_copy)

    assert result.returncode != 0
    assert contract in result.stdout, result.stdout
