"""docs/ARCHITECTURE.md and the import contracts (`make lint`) describe the same modules: a
module left out of both is a seam a contributor cannot see and lint does not guard."""

from __future__ import annotations

import ast
import re
import tomllib

from tests.conftest import ROOT

PACKAGE = ROOT / "src" / "consentproxy"
CONTRACTS = {
    c["name"]: c
    for c in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"
    ]
}
CORE = CONTRACTS["the core never imports a socket library, an event loop or an adapter"]
ADAPTERS = CONTRACTS["the adapters reach the core through consentproxy.adapter only"]


def top_level_modules() -> set[str]:
    """consentproxy's modules and packages, as the contracts name them."""
    names = {p.stem for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}
    names |= {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    return {f"consentproxy.{n}" for n in names}


def test_every_module_is_in_the_core_or_kept_out_of_it():
    """A module in neither list of the core's contract is unchecked either way: the core
    could import it (scan_report.py, which reads screenshots, was in neither)."""
    known = set(CORE["source_modules"]) | set(CORE["forbidden_modules"])
    assert sorted(top_level_modules() - known) == []


def test_the_adapters_may_import_no_core_module_but_through_the_adapter_module():
    """ARCHITECTURE.md: server, runtime and telemetry reach the core through
    consentproxy.adapter only, by contract (consentproxy.files was left out of it)."""
    assert sorted(set(CORE["source_modules"]) - set(ADAPTERS["forbidden_modules"])) == []


def test_every_module_is_on_the_architecture_map():
    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    named = set(re.findall(r"[\w/]+\.py|\w+/", doc))  # a package by its folder
    modules = [p.relative_to(PACKAGE) for p in PACKAGE.rglob("*.py") if p.stat().st_size]
    missing = [
        m.as_posix()
        for m in modules
        if not {m.as_posix(), m.name, f"{m.parent}/" if m.name == "__init__.py" else ""} & named
    ]
    assert sorted(missing) == []


def test_each_module_the_map_only_lists_has_its_line():
    """The map lists the core's small modules by name alone; the table under it gives each its
    one idea (files.py, listed, had none)."""
    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    modules = doc.partition("## Modules")[2].partition("## A request's path")[0]
    diagram, _, table = modules.partition("```\n\n")
    listed = {
        name
        for line in diagram.splitlines()
        if re.fullmatch(r"\s*([\w/]+\.py,?\s*)+", line)
        for name in re.findall(r"[\w/]+\.py", line)
    }
    described = set(re.findall(r"^\| `([\w/]+\.py)` \|", table, re.MULTILINE))
    assert listed and sorted(listed - described) == []


def test_the_config_values_are_imported_from_settings():
    """settings.py's docstring: every module but config.py imports the frozen values from
    settings.py (records.py took RecordsSettings from config.py, which imports it)."""
    held = {
        n.name
        for n in ast.parse((PACKAGE / "settings.py").read_text()).body
        if isinstance(n, ast.ClassDef)
    }
    through_config = [
        f"{path.relative_to(PACKAGE)}: {alias.name}"
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module == "consentproxy.config"
        for alias in node.names
        if alias.name in held
    ]
    assert held and through_config == []


# The caches keyed by the package's own data or the config alone (none by what a visitor
# sends): as many entries as those hold, so they need no bound in the limits.
UNBOUNDED_BY_DESIGN = {
    "cookie_database": "no argument: the snapshot shipped, read once",
    "builtin_trackers": "no argument: the shipped base layer, read once",
    "_builtin_domains": "no argument: the shipped base layer's domains",
    "builtin_services": "no argument: the shipped services, read once",
    "_psl": "no argument: the public suffix list",
    "package_version": "no argument",
    "script_code": "no argument: consent.js minified once a process",
    "asset": "the banner's files shipped with the package, by name",
    "_path_re": "the path prefixes of the tracker layers: the package's and the config's",
    "endpoint_word": "the config's prefix",
}
CACHES = {"cache", "functools.cache", "lru_cache", "functools.lru_cache"}


def caching(expr: ast.expr) -> bool:
    """Whether expr is functools' cache or lru_cache, bare or called with its arguments."""
    return ast.unparse(expr.func if isinstance(expr, ast.Call) else expr) in CACHES


def test_each_bounded_cache_of_the_package_is_in_the_limits():
    """ARCHITECTURE.md: the state kept outside the engine is bounded caches, each bound in
    SECURITY.md's limits (cookie_pairs, valid_host, _cached_inline_js and _described were
    in none). Any cache counts: a decorator (@lru_cache bare or called, @cache,
    @functools.cache), of a def or an async def, or a function wrapped in an assignment,
    annotated or not; an unbounded @cache keyed by what a visitor sends would grow without
    end, so only UNBOUNDED_BY_DESIGN's are out of the limits."""
    security = (ROOT / "docs" / "SECURITY.md").read_text()
    limits = security.partition("## Limits and their defaults")[2].partition("\n## ")[0]
    caches = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                caches += [node.name for d in node.decorator_list if caching(d)]
            elif isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Call):
                target = node.targets[0] if isinstance(node, ast.Assign) else node.target
                caches += [ast.unparse(target)] if caching(node.value.func) else []
    assert set(UNBOUNDED_BY_DESIGN) <= set(caches)  # (none left that is gone)
    unlisted = [c for c in caches if c not in UNBOUNDED_BY_DESIGN]
    assert sorted(c for c in unlisted if not re.search(rf"[`.]{c}`", limits)) == []
