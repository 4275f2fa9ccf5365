"""The EasyLang language: compile ``.ez`` source to Python bytecode and run it.

Public API (see docs/ARCHITECTURE.md)::

    program = compile_file(path)               # EzError(SyntaxError) with a position
    program = compile_source(text, filename)
    namespace = await call_async(program.run)   # runs the top level in a fresh namespace
    fn = compile_snippet(code, params=["client"], filename="<broadcast_eval>")
    format_error(exc, debug=False) -> str
    to_ez_error(exc) -> EzError

For the REPL: ``program = compile_source(text, "<repl>", interactive=True)`` and
``value = program.run_in(namespace)`` runs the statements in the persistent ``namespace``
(a dict; start with ``{}``) and returns the value of a trailing expression statement
(``program.ends_with_expression`` says whether there is one). ``compile_interactive(source,
namespace)`` wraps the two: it returns a callable that returns that value or :data:`NO_VALUE`.

Importing this package stays light (no discord, aiohttp or rich), so ``ezlang run`` starts
fast.
"""

from __future__ import annotations

import ast as _py_ast
import sys
from collections.abc import Callable, Sequence
from types import CodeType
from typing import Any

from ezlang.lang import ops as _ops  # noqa: F401  (installs the runtime helpers)
from ezlang.lang.asyncbridge import await_, call_async
from ezlang.lang.errors import EzError, SourcePos, format_error, register_source, to_ez_error
from ezlang.lang.registry import BUILTINS

__all__ = [
    "NO_VALUE",
    "EzError",
    "Program",
    "SourcePos",
    "await_",
    "call_async",
    "compile_file",
    "compile_interactive",
    "compile_snippet",
    "compile_source",
    "format_error",
    "new_namespace",
    "to_ez_error",
]

#: Returned by a :func:`compile_interactive` callable when the input ends without an
#: expression statement.
NO_VALUE: Any = type("NoValue", (), {"__repr__": lambda self: "NO_VALUE"})()

_RESULT = "$result"
#: EasyLang recursion depth we allow (CPython's default of 1000 is low for recursive code).
RECURSION_LIMIT = 4000


def new_namespace(state: Any = None) -> dict[str, Any]:
    """A fresh module namespace (builtins installed; ``state`` is the run's import state)."""
    from ezlang.lang.modules import STATE_KEY, ImportState

    return {
        "__builtins__": BUILTINS,
        "__name__": "__ez__",
        STATE_KEY: state if state is not None else ImportState(),
    }


def _raise_limit() -> None:
    if sys.getrecursionlimit() < RECURSION_LIMIT:
        sys.setrecursionlimit(RECURSION_LIMIT)


class Program:
    """A compiled EasyLang file. ``run()`` is synchronous; call it with ``call_async`` so the
    program may pause in ``wait()``."""

    def __init__(
        self, code: CodeType, filename: str, source: str, ends_with_expression: bool = False
    ) -> None:
        self.code = code
        self.filename = filename
        self.source = source
        self.ends_with_expression = ends_with_expression

    def run(self, namespace: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run the top level in ``namespace`` (a fresh one by default); returns the namespace."""
        ns = new_namespace() if namespace is None else _prepare(namespace)
        _raise_limit()
        exec(self.code, ns)
        ns.pop(_RESULT, None)
        return ns

    def run_in(self, namespace: dict[str, Any]) -> Any:
        """Run in a persistent ``namespace`` (REPL); returns the trailing expression's value."""
        ns = _prepare(namespace)
        _raise_limit()
        exec(self.code, ns)
        return ns.pop(_RESULT, None)

    def __repr__(self) -> str:
        return f"<Program {self.filename}>"


def _prepare(namespace: dict[str, Any]) -> dict[str, Any]:
    from ezlang.lang.modules import STATE_KEY, ImportState

    namespace.setdefault("__builtins__", BUILTINS)
    namespace.setdefault("__name__", "__ez__")
    if not isinstance(namespace.get(STATE_KEY), ImportState):
        namespace[STATE_KEY] = ImportState()
    return namespace


def _display_of(key: str) -> str:
    from ezlang.lang.errors import _SOURCES

    entry = _SOURCES.get(key)
    return entry[0] if entry else key


def _compile_tree(tree: _py_ast.Module, key: str, module: Any) -> CodeType:
    """Python's ``compile()`` of the generated tree; ``module`` is the EasyLang AST it came
    from (to place a "too deeply nested" error)."""
    import warnings

    try:
        with warnings.catch_warnings():
            # Python's SyntaxWarnings speak about the generated Python, not the .ez source.
            warnings.simplefilter("ignore")
            return compile(tree, key, "exec", dont_inherit=True, optimize=0)
    except (RecursionError, MemoryError):
        raise _too_deep(_display_of(key), module) from None


def _too_deep(filename: str, module: Any) -> EzError:
    """The error for a tree too deep to compile, placed at its deepest construct."""
    from ezlang.lang.nodes import deepest

    # Thousands of operators in one expression nest the tree deeper than Python recurses
    # (the parser allows long flat chains such as 1 + 1 + … + 1; each link is one level).
    # ``module`` is None only if the parser itself ran out of stack (it guards its depth).
    where = SourcePos(filename, 1, 1)
    if module is not None:
        node = deepest(module)
        where = SourcePos(filename, node.line, node.col)
    message = "an expression is too long or too deeply nested; split it into smaller parts"
    return EzError("SyntaxError", message, pos=where)


def _attach_source_line(err: EzError, source: str) -> EzError:
    if err.pos is not None:
        lines = source.splitlines()
        if 1 <= err.pos.line <= len(lines):
            err.source_line = lines[err.pos.line - 1]  # type: ignore[attr-defined]
    return err


def compile_source(
    source: str,
    filename: str = "<string>",
    *,
    interactive: bool = False,
    known_globals: Sequence[str] = (),
) -> Program:
    """Compile EasyLang ``source``. Raises ``EzError("SyntaxError")`` (with position) at the
    first error; nothing runs. ``interactive=True`` makes ``run_in`` return the value of a
    trailing expression statement (for the REPL)."""
    from ezlang.lang import nodes
    from ezlang.lang.compiler import Compiler
    from ezlang.lang.parser import parse

    module = None
    try:
        module = parse(source, filename)
        ends_with_expression = False
        if interactive and module.body and isinstance(module.body[-1], nodes.ExprStmt):
            ends_with_expression = True
        tree = Compiler(filename, set(known_globals)).compile_module(module)
        if ends_with_expression:
            last = tree.body[-1]
            assert isinstance(last, _py_ast.Expr)
            assign = _py_ast.Assign(
                targets=[_py_ast.Name(id=_RESULT, ctx=_py_ast.Store())], value=last.value
            )
            tree.body[-1] = _py_ast.copy_location(assign, last)
            _py_ast.fix_missing_locations(tree)
        code = _compile_tree(tree, register_source(filename, source), module)
    except EzError as err:
        raise _attach_source_line(err, source) from None
    except RecursionError:
        raise _attach_source_line(_too_deep(filename, module), source) from None
    return Program(code, filename, source, ends_with_expression)


def compile_file(path: str) -> Program:
    """Compile the ``.ez`` file at ``path`` (errors name it as given)."""
    try:
        with open(path, encoding="utf-8") as fh:
            source = fh.read()
    except FileNotFoundError:
        raise EzError("ImportError", f"file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EzError("ImportError", f"cannot read {path}: {exc}") from None
    return compile_source(source, str(path))


def compile_interactive(source: str, namespace: dict[str, Any]) -> Callable[[], Any]:
    """Compile REPL input; the returned callable runs it in ``namespace`` and returns the
    value of a trailing expression statement, or :data:`NO_VALUE` when there is none."""
    program = compile_source(source, "<repl>", interactive=True, known_globals=list(namespace))

    def run() -> Any:
        value = program.run_in(namespace)
        return value if program.ends_with_expression else NO_VALUE

    return run


def compile_snippet(
    code: str, params: Sequence[str] = ("client",), filename: str = "<snippet>"
) -> Callable[..., Any]:
    """Compile ``code`` — a function body using ``return``, or one bare expression such as
    ``client.ws.ping`` — into a function of ``params`` (call it with ``call_async``)."""
    from ezlang.lang import nodes
    from ezlang.lang.compiler import Compiler
    from ezlang.lang.parser import parse, parse_expression

    module = None
    try:
        expr = parse_expression(code, filename)
        if expr is not None:
            body: tuple[nodes.Stmt, ...] = (nodes.Return(expr.line, expr.col, expr),)
        else:
            body = parse(code, filename).body
        func = nodes.FuncExpr(1, 1, "snippet", tuple(params), body, code.count("\n") + 1)
        module = nodes.Module(1, 1, (nodes.FuncDecl(1, 1, func),), filename)
        tree = Compiler(filename).compile_module(module)
        compiled = _compile_tree(tree, register_source(filename, code), module)
    except EzError as err:
        raise _attach_source_line(err, code) from None
    except RecursionError:
        raise _attach_source_line(_too_deep(filename, module), code) from None
    namespace = new_namespace()
    exec(compiled, namespace)
    fn: Callable[..., Any] = namespace["snippet"]
    return fn
