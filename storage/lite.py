"""A read-only database handle without sqlite-utils, and deferred heavy imports, for the
CLI's read commands (``dxmon search``, ``sessions``, ``status``, ``articles``,
``history``) and the web view's readers.

Importing sqlite-utils costs ~150-200 ms on this machine (it imports numpy, dateutil,
click and pluggy), more than a whole ``dxmon search`` may take (issue 16: < 300 ms). A
reader needs only ``execute``, ``query``, ``conn``, ``table_names`` and ``close``:
:class:`Database` is that subset, with sqlite-utils' own semantics (``query`` yields one
dict per row). :func:`defer_imports` makes the module-level ``import sqlite_utils`` and
``import numpy`` of the storage modules free until something uses them.
"""

from __future__ import annotations

import importlib.util
import sqlite3
import sys
import types
from collections.abc import Iterator

__all__ = ["Database", "defer_imports", "loaded"]


class Database:
    """The reading subset of :class:`sqlite_utils.Database` over one connection."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def execute(self, sql: str, parameters=None) -> sqlite3.Cursor:
        if parameters is not None:
            return self.conn.execute(sql, parameters)
        return self.conn.execute(sql)

    def query(self, sql: str, params=None) -> Iterator[dict]:
        cursor = self.execute(sql, params)
        keys = [d[0] for d in cursor.description]
        for row in cursor:
            yield dict(zip(keys, row, strict=True))

    def executescript(self, sql: str) -> sqlite3.Cursor:
        return self.conn.executescript(sql)

    def table_names(self) -> list[str]:
        return [r[0] for r in self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]

    def close(self) -> None:
        self.conn.close()


class _Deferred(types.ModuleType):
    """A stand-in for a module not imported yet: its first missing attribute imports the
    real module, which then replaces it in ``sys.modules`` and lends it its namespace.

    (Not :class:`importlib.util.LazyLoader`: in Python 3.11 the next ``import name``
    statement reads the lazy module's ``__spec__`` and so loads it at once; here
    ``__spec__`` is a plain attribute, and only a real use loads.)"""

    def __getattr__(self, attr: str):
        name = self.__name__
        if sys.modules.get(name) is self:
            del sys.modules[name]
        real = importlib.import_module(name)
        self.__dict__.update(real.__dict__)
        return getattr(real, attr)


def defer_imports(*names: str) -> None:
    """Stand a :class:`_Deferred` in for each top-level module in ``names`` not imported
    yet, so a module-level ``import numpy`` costs nothing on a path that never uses
    numpy. For the short, single-threaded read commands only (the CLI's READERS)."""
    for name in names:
        if name in sys.modules or "." in name:
            continue
        spec = importlib.util.find_spec(name)
        if spec is None:
            continue
        module = _Deferred(name)
        module.__spec__ = spec
        module.__file__ = spec.origin
        sys.modules[name] = module


def loaded(prefixes: tuple[str, ...]) -> list[str]:
    """The modules of the packages ``prefixes`` that actually ran (a deferred stand-in
    that nothing used is not counted)."""
    return sorted(name for name, module in list(sys.modules.items())
                  if name.split(".")[0] in prefixes and type(module) is types.ModuleType)
