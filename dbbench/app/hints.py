"""What to install when a project's suite cannot import a module: the distribution, with the right interpreter.

An import name is often not what pip installs (``environ`` comes from ``django-environ``). The name is looked up
in the installed metadata (:func:`importlib.metadata.packages_distributions`, which knows every distribution
installed where dbbench runs), then in a short table of the usual ones in Django projects. When the missing name
is the project itself (its package, or its distribution's name), the answer is ``pip install -e .``: the source
under test, not a release from PyPI.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from dbbench.app.detect import Project

# Import name -> distribution, for the common ones whose names differ (checked on PyPI's project pages).
COMMON = {
    "environ": "django-environ",
    "dj_database_url": "dj-database-url",
    "rest_framework": "djangorestframework",
    "rest_framework_simplejwt": "djangorestframework-simplejwt",
    "crispy_forms": "django-crispy-forms",
    "debug_toolbar": "django-debug-toolbar",
    "corsheaders": "django-cors-headers",
    "django_filters": "django-filter",
    "django_extensions": "django-extensions",
    "mptt": "django-mptt",
    "taggit": "django-taggit",
    "polymorphic": "django-polymorphic",
    "storages": "django-storages",
    "guardian": "django-guardian",
    "allauth": "django-allauth",
    "import_export": "django-import-export",
    "reversion": "django-reversion",
    "treebeard": "django-treebeard",
    "model_utils": "django-model-utils",
    "phonenumber_field": "django-phonenumber-field",
    "drf_spectacular": "drf-spectacular",
    "factory": "factory-boy",
    "model_bakery": "model-bakery",
    "pytest_django": "pytest-django",
    "MySQLdb": "mysqlclient",
    "psycopg": "psycopg[binary]",
    "psycopg2": "psycopg2-binary",
    "yaml": "PyYAML",
    "PIL": "Pillow",
    "dateutil": "python-dateutil",
    "jwt": "PyJWT",
    "bs4": "beautifulsoup4",
    "django": "Django",
}


def distribution(module: str) -> str:
    """The distribution that provides the top-level import ``module``."""
    top = module.split(".")[0]
    try:
        installed = metadata.packages_distributions().get(top) or []
    except Exception:  # a broken installation's metadata must not hide the hint
        installed = []
    return installed[0] if installed else COMMON.get(top, top)


def project_packages(root: Path) -> set[str]:
    """The project's own import names: its top-level packages (at the root or in ``src/``) and its dist name."""
    names = {p.parent.name for base in (root, root / "src") for p in base.glob("*/__init__.py")}
    for file, pattern in (
        ("pyproject.toml", r"^name\s*=\s*[\"']([^\"']+)"),
        ("setup.cfg", r"^name\s*=\s*(\S+)"),
        ("setup.py", r"name\s*=\s*[\"']([^\"']+)"),
    ):
        path = root / file
        match = re.search(pattern, path.read_text(errors="replace"), re.M) if path.is_file() else None
        if match:
            names.add(re.sub(r"[-.]+", "_", match.group(1)).lower())
    return names


def in_tree(root: Path, module: str) -> Path | None:
    """A folder of the project that holds ``module`` but is not on the path (``tests/test_app``), or None."""
    top = module.split(".")[0]
    for found in sorted(root.glob(f"**/{top}/__init__.py"), key=lambda p: len(p.parts)):
        if not {".git", ".tox", ".venv", "venv", "node_modules", "build"} & set(found.parts):
            return found.parent
    return None


def missing_module(module: str, project: Project) -> str:
    """One line: what the suite could not import and the command that installs it for the suite's interpreter."""
    python, top = project.python, module.split(".")[0]
    if top.lower() in project_packages(project.root):
        return (
            f"the project's own package {top!r} is not importable by {python}: install the source under test "
            f"with `{python} -m pip install -e {project.root}` (and its test requirements)"
        )
    folder = in_tree(project.root, module)
    if folder is not None and folder.parent not in project.pythonpath:
        where = folder.parent.relative_to(project.root).as_posix()
        return f"{top!r} is a folder of the project ({where}/{top}) that is not on the path: pass --pythonpath {where}"
    dist = distribution(module)
    return (
        f"the project needs {module!r} (distribution {dist}), which is not installed for {python}: "
        f"`{python} -m pip install {dist}`, or install the project's test requirements there"
    )
