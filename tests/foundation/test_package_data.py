"""Every non-Python file the installed code opens is in the wheel.

An editable install reads files from the checkout, so a data file (or folder) that the wheel
does not carry passes every other test and breaks only for users (collectors/migrations/ was
such a folder: a bare directory with a ``.keep`` file, so no installed collector could reopen an
existing database). This test reads the sources' syntax tree and lists every path built from
``importlib.resources.files(...)`` or ``Path(__file__)``, then looks each one up in the wheel.
tests/installed/ then runs the installed code itself.
"""

from __future__ import annotations

import ast
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PARTS = {"infersight": "infersight", "instrument": "infersight/instrument",
         "collectors": "infersight/collectors", "analysis": "infersight/analysis", "demo": "infersight/demo",
         "ui": "infersight/ui"}
# Modules that read the checkout on purpose (developer tools, never run from an install); the
# developer tools themselves live in tools/, outside the wheel.
CHECKOUT_ONLY: dict[str, str] = {}


@dataclass(frozen=True)
class DataRef:
    module: str  # source path, e.g. collectors/_schema.py
    line: int
    wheel_path: str  # where the referenced file/folder must be inside the wheel
    pattern: bool  # a non-literal part follows: the folder must hold at least one file


def _module_wheel_dir(src: Path) -> list[str]:
    rel = src.relative_to(ROOT)
    return [*PARTS[rel.parts[0]].split("/"), *rel.parts[1:-1]]


def _chain(node: ast.AST) -> tuple[list[str], bool, ast.AST]:
    """Path parts appended to a root expression by ``/``, ``joinpath(...)`` and ``with_name``.

    Returns (literal parts up to the first non-literal one, whether a non-literal part follows,
    the root expression).
    """
    parts: list[ast.AST] = []
    cur = node
    while True:
        if isinstance(cur, ast.BinOp) and isinstance(cur.op, ast.Div):
            parts.insert(0, cur.right)
            cur = cur.left
        elif (isinstance(cur, ast.Call) and isinstance(cur.func, ast.Attribute)
              and cur.func.attr in ("joinpath", "with_name")):
            parts[0:0] = ([ast.Constant(".."), *cur.args] if cur.func.attr == "with_name" else list(cur.args))
            cur = cur.func.value
        elif (isinstance(cur, ast.Call) and isinstance(cur.func, ast.Attribute)
              and cur.func.attr in ("read_text", "read_bytes", "open", "iterdir", "is_dir", "is_file", "exists",
                                    "resolve", "absolute")):
            cur = cur.func.value
        else:
            break
    literal: list[str] = []
    for p in parts:
        if isinstance(p, ast.Constant) and isinstance(p.value, str):
            literal.append(p.value)
        else:
            return literal, True, cur
    return literal, False, cur


def _root_dir(root: ast.AST, src: Path) -> list[str] | None:
    """The wheel folder a root expression stands for, or None when it is not a package location."""
    here = _module_wheel_dir(src)
    ups = 0
    cur = root
    while True:  # Path(__file__).resolve().parent.parents[1] ...
        if isinstance(cur, ast.Attribute) and cur.attr == "parent":
            ups += 1
            cur = cur.value
        elif (isinstance(cur, ast.Subscript) and isinstance(cur.value, ast.Attribute) and cur.value.attr == "parents"
              and isinstance(cur.slice, ast.Constant) and isinstance(cur.slice.value, int)):
            ups += cur.slice.value + 1
            cur = cur.value.value
        elif isinstance(cur, ast.Call) and isinstance(cur.func, ast.Attribute) and cur.func.attr in ("resolve", "absolute"):
            cur = cur.func.value
        else:
            break
    if (isinstance(cur, ast.Call) and isinstance(cur.func, ast.Name) and cur.func.id == "Path" and cur.args
            and isinstance(cur.args[0], ast.Name) and cur.args[0].id == "__file__"):
        # Path(__file__) is the module file: its folder is one "parent" up
        return here[: len(here) - (ups - 1)] if ups >= 1 else [*here, "<module>"]
    if (ups == 0 and isinstance(cur, ast.Call) and isinstance(cur.func, ast.Attribute) and cur.func.attr == "files"
            and cur.args):
        arg = cur.args[0]
        if isinstance(arg, ast.Name) and arg.id == "__package__":
            return here
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return arg.value.split(".")
    return None


def _package_loader(node: ast.AST) -> str | None:
    if not isinstance(node, ast.Call) or len(node.args) < 2:
        return None
    name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
    pkg, folder = node.args[0], node.args[1]
    if name == "PackageLoader" and isinstance(pkg, ast.Constant) and isinstance(folder, ast.Constant):
        return f"{str(pkg.value).replace('.', '/')}/{folder.value}"
    return None


def data_refs() -> list[DataRef]:
    refs: list[DataRef] = []
    for folder in PARTS:
        for src in sorted((ROOT / folder).rglob("*.py")):
            rel = src.relative_to(ROOT).as_posix()
            if "__pycache__" in src.parts or rel in CHECKOUT_ONLY:
                continue
            tree = ast.parse(src.read_text(encoding="utf-8"))
            inner: set[int] = set()
            for node in ast.walk(tree):
                if id(node) in inner:
                    continue
                loader = _package_loader(node)  # jinja2.PackageLoader("pkg", "templates")
                if loader is not None:
                    refs.append(DataRef(rel, getattr(node, "lineno", 0), loader, True))
                    continue
                literal, pattern, root = _chain(node)
                if not literal and not pattern:
                    continue
                base = _root_dir(root, src)
                if base is None:
                    continue
                for sub in ast.walk(node):  # the chain's own sub-expressions are not separate references
                    inner.add(id(sub))
                path = [*base]
                for part in literal:
                    if part == "..":
                        path.pop()
                    else:
                        path.extend(part.split("/"))
                refs.append(DataRef(rel, getattr(node, "lineno", 0), "/".join(path), pattern))
    return refs


def test_the_scan_finds_the_known_references() -> None:
    """The scanner itself must see the files we know about (else the next test proves nothing)."""
    found = {r.wheel_path for r in data_refs()}
    for expected in ("infersight/collectors/schema.sql", "infersight/collectors/migrations",
                     "infersight/analysis/sql", "infersight/demo/sql", "infersight/dashboards/grafana",
                     "infersight/ui/templates"):
        assert expected in found, (expected, sorted(found))


def test_every_file_the_code_opens_is_in_the_wheel(built_wheel: Path) -> None:
    names = zipfile.ZipFile(built_wheel).namelist()
    files = set(names)
    missing = []
    for ref in data_refs():
        is_file = ref.wheel_path in files
        folder_files = [n for n in names if n.startswith(ref.wheel_path + "/")]
        if ref.pattern and not folder_files:
            missing.append(f"{ref.module}:{ref.line}: folder {ref.wheel_path}/ (holds no file in the wheel)")
        elif not ref.pattern and not is_file and not folder_files:
            missing.append(f"{ref.module}:{ref.line}: {ref.wheel_path}")
    assert not missing, "the code opens files the wheel does not carry:\n" + "\n".join(missing)


def test_every_data_file_of_the_sources_is_in_the_wheel(built_wheel: Path) -> None:
    names = set(zipfile.ZipFile(built_wheel).namelist())
    skipped = {".keep", ".gitignore"}
    for folder, prefix in {**PARTS, "dashboards/grafana": "infersight/dashboards/grafana"}.items():
        for f in (ROOT / folder).rglob("*"):
            if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc" and f.name not in skipped:
                want = f"{prefix}/{f.relative_to(ROOT / folder).as_posix()}"
                assert want in names, f"{f.relative_to(ROOT)} is not in the wheel (as {want})"


@pytest.mark.parametrize("folder", ["collectors/migrations", "analysis/sql/staging", "demo/sql"])
def test_data_folders_are_never_bare(folder: str) -> None:
    """A folder the code lists must ship even when it holds no data yet (a package, not a .keep)."""
    assert (ROOT / folder).is_dir()
    assert any(p.is_file() and p.name != ".keep" for p in (ROOT / folder).iterdir()), folder
