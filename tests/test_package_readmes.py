"""Every module of a product package is named in its package's README.md
(issue 12: the package READMEs exist and stay true).

The rule: a module is named when its path relative to the package, with
`.py`, appears in the package's README.md as a whole path, alone or after the
package's name. `agent_api/web/forms.py` is named by `web/forms.py` or
`agent_api/web/forms.py`, not by `forms.py`, `forms` or
`agent_api.web.forms`; `dashboards/kpi.py` is named by `kpi.py`, not by
`kpis`, `kpi` or `walkin_kpi.py` (the path must not continue a longer name or
path on either side). `__init__.py` files and Alembic's migration version
files (`crm_bridge/migrations/versions/`) are left out: the README describes
the migrations folder as a whole.

The other way round, every `*.py` path a package README writes in backquotes
must exist: relative to the repository when it starts with a top-level
folder of it (`atiende/wiring.py`, `tests/...`), else relative to the package.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("atiende", "agent_api", "dashboards", "crm_bridge", "telephony", "ivr", "citizen")
_LEFT_OUT_FOLDERS = {"crm_bridge": ("migrations/versions/",)}
# What may not touch a path on its left or right for it to count as whole.
_PATH_CHAR = r"[\w./-]"


def modules_of(package: str) -> list[str]:
    """The package's modules as paths relative to it (`web/forms.py`)."""
    base = ROOT / package
    found = []
    for path in sorted(base.rglob("*.py")):
        relative = path.relative_to(base).as_posix()
        if path.name == "__init__.py" or "__pycache__" in path.parts:
            continue
        if relative.startswith(_LEFT_OUT_FOLDERS.get(package, ())):
            continue
        found.append(relative)
    return found


def names_module(readme: str, package: str, module: str) -> bool:
    """Whether `readme` names `module` (a path relative to `package`)."""
    pattern = rf"(?<!{_PATH_CHAR})(?:{re.escape(package)}/)?{re.escape(module)}(?![\w/-]|\.\w)"
    return re.search(pattern, readme) is not None


def test_the_rule_takes_whole_paths_only() -> None:
    text = "`kpis` and `walkin_kpi.py`, `forms.py`, agent_api.web.forms, `kpi.pyc`"
    assert not names_module(text, "dashboards", "kpi.py")
    assert not names_module(text, "agent_api", "web/forms.py")
    assert not names_module("`sync/testing.py`", "crm_bridge", "testing.py")
    assert not names_module("`other/web/forms.py`", "agent_api", "web/forms.py")
    assert names_module("| `kpi.py` | the rule |", "dashboards", "kpi.py")
    assert names_module("(`kpi.py`).", "dashboards", "kpi.py")
    assert names_module("see agent_api/web/forms.py.", "agent_api", "web/forms.py")
    assert names_module("`web/forms.py`, `web/labels.py`", "agent_api", "web/forms.py")


def test_every_product_package_has_a_readme() -> None:
    missing = [p for p in PACKAGES if not (ROOT / p / "README.md").is_file()]
    assert missing == []


def test_every_module_is_named_in_its_package_readme() -> None:
    unnamed = []
    for package in PACKAGES:
        readme_path = ROOT / package / "README.md"
        readme = readme_path.read_text(encoding="utf-8") if readme_path.is_file() else ""
        unnamed += [
            f"{package}/{module}"
            for module in modules_of(package)
            if not names_module(readme, package, module)
        ]
    assert unnamed == [], f"modules not named in their package's README.md: {unnamed}"


def test_every_module_path_a_readme_writes_exists() -> None:
    top_level = {p.name for p in ROOT.iterdir() if p.is_dir()}
    stale = []
    for package in PACKAGES:
        readme_path = ROOT / package / "README.md"
        if not readme_path.is_file():
            continue
        for written in re.findall(r"`([\w./-]+\.py)`", readme_path.read_text(encoding="utf-8")):
            first = written.split("/", 1)[0]
            base = ROOT if "/" in written and first in top_level else ROOT / package
            if not (base / written).is_file():
                stale.append(f"{package}/README.md: {written}")
    assert stale == [], f"paths in package READMEs that name no file: {stale}"
