"""EasyLang compiler, first layer: scopes and names (see ``compiler`` for the whole design).

EasyLang's block scopes (``let``/``const``) map onto Python's function scopes here: a
``Var`` is one EasyLang variable and its Python name, a ``FuncScope`` one Python function
being compiled, a ``Block`` one EasyLang block. ``ScopeCompiler`` declares and resolves
names; ``ExpressionCompiler`` (``compile_expressions``) and ``Compiler`` (``compiler``)
build on it. The small ``_load``/``_call``/``_at`` helpers build the Python nodes all three use.
"""

from __future__ import annotations

import ast as py
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ezlang.lang import nodes as n
from ezlang.lang.errors import EzError, SourcePos

# CPython accepts any identifier in an AST except these constants (and we keep dunders).
_PY_RESERVED = frozenset({"None", "True", "False", "__debug__"})


def mangle(name: str) -> str:
    """The Python name of an EasyLang identifier (``None``/``True``/``False`` and dunders get
    a ``$``; other Python keywords such as ``assert`` are fine as names in an AST)."""
    if name in _PY_RESERVED or name.startswith("__"):
        return name + "$"
    return name


@dataclass
class Var:
    """One EasyLang variable: its Python name and where it lives."""

    name: str
    pyname: str
    func: FuncScope
    const: bool = False
    line: int = 0
    col: int = 0
    # A variable declared inside a loop and captured by a closure made in that loop lives in
    # a one-element list created on each entry of its block, and closures are made by a
    # factory that binds the current lists: each closure keeps its own iteration's variable
    # (JavaScript's per-iteration `let`) instead of sharing the function's one Python cell.
    boxed: bool = False


@dataclass
class FuncScope:
    """A Python function (or the module) being compiled."""

    parent: FuncScope | None
    is_module: bool
    counter: int = 0
    globals: set[str] = field(default_factory=set)
    nonlocals: set[str] = field(default_factory=set)
    loop_depth: int = 0
    # Names used inside closures created in the enclosing loops (candidates for boxing).
    loop_captured: frozenset[str] = frozenset()

    #: Added to the fresh names of a file's top level: an included file shares the includer's
    #: namespace, so its temporaries must not overwrite the includer's.
    tag: str = ""

    def fresh(self, base: str) -> str:
        self.counter += 1
        return f"{base}${self.tag}{self.counter}"


@dataclass
class Block:
    """A block scope (function body, if/while/for body, try/catch part, bare block)."""

    func: FuncScope
    parent: Block | None
    top: bool  # the function's (or file's) own top block: variables keep their plain names
    vars: dict[str, Var] = field(default_factory=dict)

    def lookup(self, name: str) -> Var | None:
        block: Block | None = self
        while block is not None:
            var = block.vars.get(name)
            if var is not None:
                return var
            block = block.parent
        return None


def _load(name: str) -> py.Name:
    return py.Name(id=name, ctx=py.Load())


def _store(name: str) -> py.Name:
    return py.Name(id=name, ctx=py.Store())


def _call(helper: str, *args: py.expr) -> py.Call:
    return py.Call(func=_load(helper), args=list(args), keywords=[])


def _is(a: py.expr, b: py.expr) -> py.Compare:
    return py.Compare(left=a, ops=[py.Is()], comparators=[b])


def _at(node: Any, line: int, col: int) -> Any:
    """Give a Python node the position of an EasyLang node (lines and columns 1-based)."""
    node.lineno = line
    node.col_offset = col - 1
    node.end_lineno = line
    node.end_col_offset = col
    return node


def _names_in_closures(stmts: tuple[n.Stmt, ...]) -> frozenset[str]:
    """Every name read or assigned inside the functions defined in ``stmts``."""
    found: set[str] = set()

    def walk(node: n.Node, inside: bool) -> None:
        if isinstance(node, n.FuncExpr):
            inside = True
        elif inside and isinstance(node, n.Name):
            found.add(node.name)
        for child in n.children(node):
            walk(child, inside)

    for stmt in stmts:
        walk(stmt, False)
    return frozenset(found)


def _declared_in(stmts: tuple[n.Stmt, ...]) -> set[str]:
    names: set[str] = set()
    for s in stmts:
        if isinstance(s, n.Let):
            names.add(s.name)
        elif isinstance(s, n.FuncDecl) and s.func.name:
            names.add(s.func.name)
        elif isinstance(s, n.Import) and s.alias:
            names.add(s.alias)
        elif isinstance(s, n.UsePython):
            names.add(s.alias)
    return names


class ScopeCompiler:
    """The compiler's state and its scopes: declaring and resolving EasyLang names."""

    def __init__(
        self, filename: str, known_globals: set[str] | None = None, fresh_tag: str = ""
    ) -> None:
        self.filename = filename
        self.module_scope = FuncScope(None, True, tag=fresh_tag)
        # In the REPL a top-level `return` stays an error (there is no file for it to end).
        self.top_return_allowed = not filename.startswith("<repl>")
        self.has_top_return = False
        self.func = self.module_scope
        self.block = Block(self.func, None, True)
        for name in known_globals or ():
            self.declare(name, self.block, pyname=name)
        self.pre: list[py.stmt] = []  # hoisted function definitions for the current statement
        self.safe_plus = False  # compile `+` as the helper call (retry path of pure statements)

    # ------------------------------------------------------------------ errors and scopes

    def error(self, message: str, node: n.Node) -> EzError:
        return EzError("SyntaxError", message, pos=SourcePos(self.filename, node.line, node.col))

    def declare(
        self, name: str, block: Block, *, const: bool = False, node: n.Node | None = None,
        pyname: str | None = None,
    ) -> Var:  # fmt: skip
        existing = block.vars.get(name)
        if existing is not None:
            if existing.const or const:
                where = f" (declared at {existing.line}:{existing.col})" if existing.line else ""
                raise self.error(
                    f"'{name}' is already declared in this scope{where}", node or n.Node(1, 1)
                )
            return existing
        if pyname is None:
            pyname = mangle(name) if block.top else block.func.fresh(mangle(name))
        var = Var(
            name, pyname, block.func, const, node.line if node else 0, node.col if node else 0
        )
        func = block.func
        var.boxed = not block.top and func.loop_depth > 0 and name in func.loop_captured
        block.vars[name] = var
        return var

    @contextmanager
    def new_block(self, top: bool = False) -> Iterator[Block]:
        saved = self.block
        self.block = Block(self.func, saved, top)
        try:
            yield self.block
        finally:
            self.block = saved

    def prescan(
        self, stmts: tuple[n.Stmt, ...], block: Block, params: tuple[str, ...] = ()
    ) -> None:
        """Declare a block's names before compiling it, so functions may use names declared
        later in the block, and declare the names that bare assignments create (in the
        function's top block, as Python does)."""
        for s in stmts:
            if isinstance(s, n.Let):
                self.declare(s.name, block, const=s.kind == "const", node=s)
            elif isinstance(s, n.FuncDecl) and s.func.name:
                self.declare(s.func.name, block, node=s)
            elif isinstance(s, n.Import) and s.alias:
                self.declare(s.alias, block, node=s)
            elif isinstance(s, n.UsePython):
                self.declare(s.alias, block, node=s)
        if block.top:
            implicit: list[tuple[str, n.Node]] = []
            self._find_implicit(stmts, [set(block.vars) | set(params)], implicit)
            for name, node in implicit:
                if block.lookup(name) is None:
                    self.declare(name, block, node=node)

    def _find_implicit(
        self, stmts: tuple[n.Stmt, ...], chain: list[set[str]], out: list[tuple[str, n.Node]]
    ) -> None:
        here = _declared_in(stmts)
        chain = [*chain, here]
        for s in stmts:
            if isinstance(s, n.Assign) and isinstance(s.target, n.Name):
                name = s.target.name
                if not any(name in names for names in chain) and self.block.lookup(name) is None:
                    out.append((name, s.target))
                    chain[0].add(name)
            for body, names in n.blocks(s):
                self._find_implicit(body, [*chain, set(names)], out)

    def resolve_store(self, name: str, node: n.Node) -> py.expr:
        """The assignment target for EasyLang ``name`` (declaring nonlocal/global as needed)."""
        var = self.resolve_store_var(name, node)
        return self.target(var)

    def target(self, var: Var) -> py.expr:
        if var.boxed:
            return py.Subscript(value=_load(var.pyname), slice=py.Constant(0), ctx=py.Store())
        return _store(var.pyname)

    def resolve_store_var(self, name: str, node: n.Node) -> Var:
        var = self.block.lookup(name)
        if var is None:
            var = self.declare(name, self.block, node=node)
        if var.const:
            raise self.error(
                f"cannot assign to constant '{name}' (declared with const at {var.line}:{var.col})",
                node,
            )
        if var.func is not self.func and not var.boxed:
            if var.func.is_module:
                self.func.globals.add(var.pyname)
            else:
                self.func.nonlocals.add(var.pyname)
        return var

    def resolve_load(self, name: str) -> str:
        var = self.block.lookup(name)
        return var.pyname if var is not None else mangle(name)

    def hoist_function(self, f: n.FuncExpr, hint: str | None = None) -> py.Name:
        """Define ``f`` before the current statement; returns its name (``Compiler``)."""
        raise NotImplementedError
