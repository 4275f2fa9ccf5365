"""``ezlang check``: find mistakes without running anything.

After the compiler has accepted a file (so it has no syntax errors), a static pass over the
EasyLang AST reports, with positions:

* every name that is used but defined nowhere the use can see and is not a builtin (with a
  "did you mean" for a close name), and
* every call of a builtin with an argument count its Python signature cannot accept.

Scopes follow the compiler's rules (``compiler.Compiler.prescan``): ``let``/``const``/``var``,
``func`` declarations and ``import … as`` names are visible in their whole block (so a
function may use a name declared further down), parameters, ``for`` variables and ``catch``
variables in their body, and a bare assignment ``x = 1`` declares ``x`` for the whole
function (or file). ``import "file.ez"`` (without ``as``) binds the top-level names of that
file: the checker reads it (and what it imports) to learn them; when it cannot, names that
might come from it are not reported.

Nothing runs: the only code executed is the import of the modules that provide lazily
registered builtins that the file calls, to read their signatures.
"""

from __future__ import annotations

import difflib
import inspect
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ezlang.lang import nodes as n
from ezlang.lang.errors import EzError, source_line
from ezlang.lang.modules import display_path, resolve_path
from ezlang.lang.registry import BUILTINS, resolve
from ezlang.lang.renamed import renamed_hint


@dataclass(frozen=True, order=True)
class Problem:
    """One mistake found by the checker, at a 1-based line and column of ``file``."""

    file: str
    line: int
    col: int
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.kind}: {self.message}"


@dataclass
class _Scope:
    names: set[str]
    parent: _Scope | None

    def defines(self, name: str) -> bool:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.names:
                return True
            scope = scope.parent
        return False

    def all_names(self) -> set[str]:
        out: set[str] = set()
        scope: _Scope | None = self
        while scope is not None:
            out |= scope.names
            scope = scope.parent
        return out


def _imported_file(stmt: n.Stmt) -> str | None:
    """The path of ``import "x.ez"`` (with or without ``as``) or ``include "x.ez"``."""
    if isinstance(stmt, n.Import) or type(stmt).__name__ == "Include":
        path = getattr(stmt, "path", None)
        return path if isinstance(path, str) else None
    return None


def _is_import(stmt: n.Stmt) -> bool:
    """An import that binds the file's names directly (no ``as``)."""
    return _imported_file(stmt) is not None and getattr(stmt, "alias", None) is None


def _declared(stmts: Iterable[n.Stmt]) -> set[str]:
    """Names a block declares for its whole extent (the compiler's prescan)."""
    names: set[str] = set()
    for s in stmts:
        if isinstance(s, n.Let):
            names.add(s.name)
        elif isinstance(s, n.FuncDecl) and s.func.name:
            names.add(s.func.name)
        elif isinstance(getattr(s, "alias", None), str):
            names.add(s.alias)  # type: ignore[attr-defined]  # import/use … as name
    return names


def _assigned(stmts: tuple[n.Stmt, ...]) -> set[str]:
    """Names bare assignments create anywhere in a function body (outside nested functions)."""
    names: set[str] = set()
    for s in stmts:
        if isinstance(s, n.Assign) and isinstance(s.target, n.Name):
            names.add(s.target.name)
        for body, _ in n.blocks(s):
            names |= _assigned(body)
    return names


@dataclass
class _Imports:
    """Top-level names of imported files, read once each (cycles end the walk)."""

    cache: dict[str, set[str] | str] = field(default_factory=dict)

    def exports(self, full: str) -> set[str] | str:
        """The names ``import`` of the file ``full`` binds, or why they cannot be known."""
        cached = self.cache.get(full)
        if cached is not None:
            return cached
        self.cache[full] = set()  # a cycle: the names arrive from the first visit
        result = self._read(full)
        self.cache[full] = result
        return result

    def _read(self, full: str) -> set[str] | str:
        from ezlang.lang.parser import parse

        shown = display_path(full)
        try:
            with open(full, encoding="utf-8") as fh:
                module = parse(fh.read(), shown)
        except FileNotFoundError:
            return f"no file {shown}"
        except OSError as exc:
            return f"cannot read {shown}: {exc.strerror or exc}"
        except UnicodeDecodeError:
            return f"cannot read {shown}: it is not UTF-8 text"
        except EzError as exc:
            where = f" at {exc.pos}" if exc.pos else ""
            return f"{shown} has a {exc.kind}{where}: {exc.message}"
        except RecursionError:
            return f"{shown} is nested too deeply to check"
        names = _declared(module.body) | _assigned(module.body)
        for s in module.body:
            if _is_import(s):
                more = self.exports(resolve_path(_imported_file(s) or "", full))
                if isinstance(more, str):
                    return more
                names |= more
        return names


#: Builtins whose first parameter has a sentinel default yet may be left out.
_OPTIONAL_FIRST = frozenset({"random"})


def _arity(name: str, fn: Any) -> tuple[int, float] | None:
    """(fewest, most) arguments the builtin ``fn`` accepts, or None if it cannot be told.

    Core builtins give their parameters a sentinel default (``_MISSING = object()``) so that a
    missing argument is reported by name at run time; a leading sentinel parameter therefore
    counts as required, except for the builtins in :data:`_OPTIONAL_FIRST`
    (tests/cli/test_check.py calls every other such builtin without arguments to prove it).
    """
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    fewest, most = 0, 0.0
    for i, p in enumerate(sig.parameters.values()):
        if p.kind is p.VAR_POSITIONAL:
            most = math.inf
        elif p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            most += 1
            sentinel = i == 0 and type(p.default) is object and name not in _OPTIONAL_FIRST
            if p.default is p.empty or sentinel:
                fewest = i + 1
        elif p.kind is p.KEYWORD_ONLY and p.default is p.empty:
            return None  # EasyLang cannot pass it; not a shape we judge
    return fewest, most


def _plural(k: float) -> str:
    return f"{int(k)} argument" + ("" if k == 1 else "s")


class Checker:
    """Checks one parsed module; :attr:`problems` holds what it found."""

    def __init__(self, module: n.Module, filename: str, imports: _Imports | None = None) -> None:
        self.filename = filename
        self.module = module
        self.imports = imports or _Imports()
        self.problems: list[Problem] = []
        # False when an import could not be read: any name might come from it.
        self.complete = True

    def problem(self, node: n.Node, kind: str, message: str) -> None:
        self.problems.append(Problem(self.filename, node.line, node.col, kind, message))

    def run(self) -> list[Problem]:
        body = self.module.body
        names = _declared(body) | _assigned(body)
        for s in body:
            path = _imported_file(s)
            if path is None:
                continue
            exported = self.imports.exports(resolve_path(path, self.filename))
            if isinstance(exported, str):
                self.problem(s, "ImportError", f'cannot import "{path}": {exported}')
                if _is_import(s):
                    self.complete = False  # any name might come from it: none is reported
            elif _is_import(s):
                names |= exported
        self.pending: list[tuple[n.Name, set[str]]] = []
        top = _Scope(names, None)
        self.block(body, top, fresh=False)
        if self.complete:
            self.report_names()
        return sorted(self.problems)

    # ------------------------------------------------------------------ scopes

    def block(self, stmts: tuple[n.Stmt, ...], scope: _Scope, fresh: bool = True) -> None:
        if fresh:
            scope = _Scope(_declared(stmts), scope)
        for s in stmts:
            self.stmt(s, scope)

    def function(self, f: n.FuncExpr, scope: _Scope) -> None:
        names = set(f.params) | _declared(f.body) | _assigned(f.body)
        if f.name:
            names.add(f.name)
        inner = _Scope(names, scope)
        self.block(f.body, inner, fresh=False)

    def stmt(self, s: n.Stmt, scope: _Scope) -> None:
        if isinstance(s, n.FuncDecl):
            self.function(s.func, scope)
            return
        if isinstance(s, n.Listen):
            self.function(s.func, scope)
            self.call_of("listen", 2, s, scope)
            return
        blocks = list(n.blocks(s))
        # Expressions of the statement itself (a condition, a value, an assignment target).
        for name in s._fields:
            value = getattr(s, name)
            if isinstance(value, n.Expr):
                self.expr(value, scope)
        for body, declares in blocks:
            inner = _Scope(set(declares) | _declared(body), scope)
            self.block(body, inner, fresh=False)

    def expr(self, e: n.Expr, scope: _Scope) -> None:
        if isinstance(e, n.Name):
            if not scope.defines(e.name):
                self.pending.append((e, scope.all_names()))
            return
        if isinstance(e, n.FuncExpr):
            self.function(e, scope)
            return
        if isinstance(e, n.Call) and isinstance(e.callee, n.Name):
            self.call_of(e.callee.name, len(e.args), e.callee, scope)
        for child in n.children(e):
            if isinstance(child, n.Expr):
                self.expr(child, scope)

    # ------------------------------------------------------------------ findings

    def call_of(self, name: str, nargs: int, node: n.Node, scope: _Scope) -> None:
        """Check a call of ``name`` with ``nargs`` arguments if ``name`` is a builtin."""
        if scope.defines(name) or name not in BUILTINS:
            return
        try:
            fn = resolve(BUILTINS[name])
        except Exception:  # an extension that cannot load: its calls are not judged
            return
        limits = _arity(name, fn)
        if limits is None:
            return
        fewest, most = limits
        if nargs < fewest:
            need = _plural(fewest) if fewest == most else f"at least {_plural(fewest)}"
            self.problem(node, "ArgumentError", f"{name}() needs {need}, got {nargs}")
        elif nargs > most:
            takes = _plural(most) if fewest == most else f"at most {_plural(most)}"
            self.problem(node, "ArgumentError", f"{name}() takes {takes}, got {nargs}")

    def report_names(self) -> None:
        for node, visible in self.pending:
            if node.name in BUILTINS:
                continue
            renamed = renamed_hint(node.name)
            if renamed is not None:
                self.problem(node, "NameError", renamed)
                continue
            # The program's own names first: a typo of a variable is likelier than of a builtin.
            close = difflib.get_close_matches(node.name, sorted(visible), n=1, cutoff=0.75)
            if not close:
                close = difflib.get_close_matches(node.name, sorted(BUILTINS), n=1, cutoff=0.75)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            self.problem(node, "NameError", f"'{node.name}' is not defined{hint}")


def check_source(source: str, filename: str) -> list[Problem]:
    """Check EasyLang ``source``: raises ``EzError`` (SyntaxError) if it does not compile,
    else returns the problems found, sorted by position."""
    from ezlang.lang import compile_source
    from ezlang.lang.parser import parse

    compile_source(source, filename)  # syntax and compile-time errors, as `ezlang run` sees them
    return Checker(parse(source, filename), filename).run()


def check_file(path: str) -> list[Problem]:
    """Check the file ``path`` (see :func:`check_source`); unreadable files raise ``EzError``."""
    from ezlang.lang import compile_file
    from ezlang.lang.parser import parse

    program = compile_file(path)  # syntax errors, unreadable file
    return Checker(parse(program.source, path), path).run()


def format_problem(problem: Problem) -> str:
    """The problem's line, then its source line with a caret under the column."""
    text = source_line(problem.file, problem.line)
    if not text:
        return str(problem)
    stripped = text.lstrip()
    caret = " " * max(problem.col - 1 - (len(text) - len(stripped)), 0) + "^"
    return f"{problem}\n    {stripped}\n    {caret}"
