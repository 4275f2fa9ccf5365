"""EasyLang compiler: EasyLang AST → Python ``ast`` → ``compile()`` → CPython bytecode.

There is no interpreter loop of our own: CPython runs the code. Every Python node carries the
``.ez`` line and column, so tracebacks map back to the ``.ez`` source (``errors.to_ez_error``).

How EasyLang maps to Python (details and the reasons in docs/GRAMMAR.md):

* EasyLang functions are plain Python functions (not coroutines); ``wait()`` pauses through the
  greenlet bridge. Calls are direct Python calls. Parameters default to ``None`` (fewer
  arguments fill null; more raise Python's TypeError, reported as an ArgumentError).
* Variables are Python variables: fast locals in functions, closures as Python closures
  (``nonlocal``/``global`` where assigned), module globals at the top level. ``let``/``const``
  are block-scoped: a variable declared in a nested block gets a unique Python name
  (``x$1``) so it cannot leak. Python keywords used as names are mangled (``None$``).
* Operators are native where Python agrees with EasyLang for the operand types (``- * / <``),
  helpers (``ops.py``, reached as ``$name`` builtins) where it does not. ``+`` is native when
  both operands have the same type (checked inline); in statements whose right-hand side is
  pure arithmetic it is native outright, inside a ``try`` that recomputes the value with the
  EasyLang helper if Python raises TypeError (``"n=" + 5``) — try blocks are free in 3.11.
* ``return`` at the top level of a file raises ``$ProgramReturn`` (not an ``Exception``, so no
  ``catch`` sees it), caught around the file's body: it ends that file quietly.
* ``include "f.ez"`` runs f.ez's code in the including file's namespace (``modules.include``).
* Conditions that are comparisons use Python's bool directly; others go through ``$truthy``
  (empty arrays and objects are truthy in EasyLang).
"""

from __future__ import annotations

import ast as py
import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ezlang.lang import nodes as n
from ezlang.lang.errors import EzError, SourcePos

# CPython accepts any identifier in an AST except these constants (and we keep dunders).
_PY_RESERVED = frozenset({"None", "True", "False", "__debug__"})

_ARITH = {"-": py.Sub, "*": py.Mult, "+": py.Add}
_COMPARE = {"<": py.Lt, "<=": py.LtE, ">": py.Gt, ">=": py.GtE}


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


def _is_boolean(e: n.Expr) -> bool:
    """True when ``e`` always evaluates to a Python bool (so Python truthiness is exact)."""
    if isinstance(e, n.Binary):
        return e.op in ("==", "!=", "<", "<=", ">", ">=", "in", "not in")
    if isinstance(e, n.Unary):
        return e.op == "not"
    if isinstance(e, n.Literal):
        return type(e.value) is bool
    if isinstance(e, n.Logical):
        return _is_boolean(e.left) and _is_boolean(e.right)
    return False


def _is_pure(e: n.Expr) -> bool:
    """No calls, member reads or functions: evaluating ``e`` twice is harmless."""
    if isinstance(e, n.Literal | n.Name):
        return True
    if isinstance(e, n.Binary | n.Logical):
        return _is_pure(e.left) and _is_pure(e.right)
    if isinstance(e, n.Unary):
        return _is_pure(e.operand)
    return False


def _has_plus(e: n.Expr) -> bool:
    if isinstance(e, n.Binary):
        return e.op == "+" or _has_plus(e.left) or _has_plus(e.right)
    if isinstance(e, n.Logical):
        return _has_plus(e.left) or _has_plus(e.right)
    if isinstance(e, n.Unary):
        return _has_plus(e.operand)
    return False


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


class Compiler:
    """Compiles one EasyLang module (or snippet) to a Python ``ast.Module``."""

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

    # ------------------------------------------------------------------ module / functions

    def compile_module(self, module: n.Module) -> py.Module:
        self.prescan(module.body, self.block)
        body = self.statements(module.body)
        if self.has_top_return:
            handler = py.ExceptHandler(type=_load("$ProgramReturn"), name=None, body=[py.Pass()])
            body = [_at(py.Try(body=body, handlers=[handler], orelse=[], finalbody=[]), 1, 1)]
        mod = py.Module(body=body, type_ignores=[])
        return py.fix_missing_locations(mod)

    def statements(self, stmts: tuple[n.Stmt, ...]) -> list[py.stmt]:
        """Compile a block's statements; function declarations are hoisted (as in JavaScript)
        so a function may be called above the line that defines it."""
        out: list[py.stmt] = []
        for s in stmts:
            if isinstance(s, n.FuncDecl):
                out.extend(self.statement(s))
        for s in stmts:
            if not isinstance(s, n.FuncDecl):
                out.extend(self.statement(s))
        return out

    def scoped_body(self, stmts: tuple[n.Stmt, ...], declares: tuple[tuple[str, n.Node], ...] = ()) -> tuple[list[py.stmt], list[Var]]:  # fmt: skip
        """Compile a nested block in its own scope; returns the body and the Python names of
        ``declares`` (loop or catch variables declared on entry): the caller binds them."""
        with self.new_block() as block:
            declared = [self.declare(name, block, node=node) for name, node in declares]
            self.prescan(stmts, block)
            # Fresh boxes on every entry of the block, so every loop iteration has its own.
            entry: list[py.stmt] = [
                py.Assign(
                    targets=[_store(var.pyname)],
                    value=py.List(elts=[py.Constant(None)], ctx=py.Load()),
                )
                for var in block.vars.values()
                if var.boxed and var not in declared
            ]
            body = entry + self.statements(stmts)
        return body or [py.Pass()], declared

    def function(self, f: n.FuncExpr, pyname: str) -> py.FunctionDef:
        outer_func, outer_block, outer_pre = self.func, self.block, self.pre
        self.func = FuncScope(outer_func, False)
        self.block = Block(self.func, outer_block, True)
        self.pre = []
        try:
            params = [self.declare(p, self.block, node=f).pyname for p in f.params]
            self.prescan(f.body, self.block, f.params)
            body = self.statements(f.body)
            decls: list[py.stmt] = []
            if self.func.globals:
                decls.append(py.Global(names=sorted(self.func.globals)))
            if self.func.nonlocals:
                decls.append(py.Nonlocal(names=sorted(self.func.nonlocals)))
            body = decls + body
            if not body:
                body = [py.Pass()]
        finally:
            self.func, self.block, self.pre = outer_func, outer_block, outer_pre
        args = py.arguments(
            posonlyargs=[py.arg(arg=p) for p in params],
            args=[],
            vararg=None,
            kwonlyargs=[],
            kw_defaults=[],
            kwarg=None,
            defaults=[py.Constant(None) for _ in params],
        )
        node = py.FunctionDef(
            name=pyname, args=args, body=body, decorator_list=[], returns=None, type_comment=None
        )
        _at(node, f.line, f.col)
        node.end_lineno = max(f.end_line, f.line)
        return node

    def define(self, f: n.FuncExpr, pyname: str) -> list[py.stmt]:
        """Statements that bind ``pyname`` (a plain local/global name) to function ``f``.

        Inside a loop whose boxed variables are visible, the function is made by a factory
        taking those boxes, so it keeps the current iteration's variables.
        """
        boxes = self.visible_boxes()
        if not boxes:
            return [self.function(f, pyname)]
        maker = self.func.fresh("make")
        inner = self.function(f, pyname)
        ret = py.Return(value=_load(pyname))
        args = py.arguments(
            posonlyargs=[py.arg(arg=b) for b in boxes], args=[], vararg=None, kwonlyargs=[],
            kw_defaults=[], kwarg=None, defaults=[],
        )  # fmt: skip
        factory = py.FunctionDef(
            name=maker, args=args, body=[inner, ret], decorator_list=[], returns=None,
            type_comment=None,
        )  # fmt: skip
        _at(factory, f.line, f.col)
        call = py.Call(func=_load(maker), args=[_load(b) for b in boxes], keywords=[])
        bind = py.Assign(targets=[_store(pyname)], value=call)
        return [factory, _at(bind, f.line, f.col)]

    def define_var(self, f: n.FuncExpr, var: Var) -> list[py.stmt]:
        """Bind EasyLang variable ``var`` to function ``f``."""
        if not var.boxed:
            return self.define(f, var.pyname)
        tmp = self.func.fresh(mangle(var.name))
        store = py.Assign(targets=[self.target(var)], value=_load(tmp))
        return [*self.define(f, tmp), _at(store, f.line, f.col)]

    def visible_boxes(self) -> list[str]:
        names: list[str] = []
        block: Block | None = self.block
        # Boxes only exist in nested blocks (never in a function's or the file's top block).
        while block is not None and block.func is self.func and not block.top:
            names.extend(v.pyname for v in block.vars.values() if v.boxed)
            block = block.parent
        return names

    def hoist_function(self, f: n.FuncExpr, hint: str | None = None) -> py.Name:
        """Define an anonymous function before the current statement; returns its name."""
        base = mangle(hint or f.name or "")
        pyname = self.func.fresh(base)
        self.pre.extend(self.define(f, pyname))
        return _at(_load(pyname), f.line, f.col)

    # ------------------------------------------------------------------ statements

    def statement(self, s: n.Stmt) -> list[py.stmt]:
        saved_pre = self.pre
        self.pre = []
        try:
            result = self._statement(s)
            for node in result:
                if not hasattr(node, "lineno"):
                    _at(node, s.line, s.col)
            return self.pre + result
        finally:
            self.pre = saved_pre

    def _statement(self, s: n.Stmt) -> list[py.stmt]:
        method: Callable[[Any], list[py.stmt]] = getattr(self, "stmt_" + type(s).__name__)
        return method(s)

    def assign_value(self, target: py.expr, value: n.Expr, node: n.Node) -> list[py.stmt]:
        """``target = value``; pure arithmetic with ``+`` runs native with a retry path."""
        if _has_plus(value) and _is_pure(value):
            fast = self.expr_native_plus(value)
            slow = self.safe(value)
            return [self.retry(
                [_at(py.Assign(targets=[target], value=fast), node.line, node.col)],
                [_at(py.Assign(targets=[copy.copy(target)], value=slow), node.line, node.col)],
            )]  # fmt: skip
        return [_at(py.Assign(targets=[target], value=self.expr(value)), node.line, node.col)]

    def retry(self, fast: list[py.stmt], slow: list[py.stmt]) -> py.Try:
        handler = py.ExceptHandler(type=_load("$TypeError"), name=None, body=slow)
        return py.Try(body=fast, handlers=[handler], orelse=[], finalbody=[])

    def stmt_Let(self, s: n.Let) -> list[py.stmt]:
        var = self.block.vars.get(s.name) or self.declare(s.name, self.block, node=s)
        if s.value is None:
            return [
                _at(py.Assign(targets=[self.target(var)], value=py.Constant(None)), s.line, s.col)
            ]
        if isinstance(s.value, n.FuncExpr) and s.value.name is None:
            return self.define_var(s.value, var)
        return self.assign_value(self.target(var), s.value, s)

    def stmt_FuncDecl(self, s: n.FuncDecl) -> list[py.stmt]:
        assert s.func.name is not None
        return self.define_var(s.func, self.resolve_store_var(s.func.name, s))

    def stmt_Assign(self, s: n.Assign) -> list[py.stmt]:
        target = s.target
        value = s.value
        if s.op != "=":
            value = n.Binary(s.line, s.col, s.op[:-1], target, value)
        if isinstance(target, n.Name):
            if isinstance(value, n.FuncExpr) and value.name is None:
                return self.define_var(value, self.resolve_store_var(target.name, target))
            return self.assign_value(self.resolve_store(target.name, target), value, s)
        if isinstance(target, n.Member):
            obj_tmp = self.func.fresh("")
            obj = py.NamedExpr(target=_store(obj_tmp), value=self.expr(target.obj))
            if s.op != "=":
                assert isinstance(value, n.Binary)
                current = _at(
                    _call("$member", _load(obj_tmp), py.Constant(target.name)),
                    target.line,
                    target.col,
                )
                new_value = self.binary_with(value, current, self.expr(value.right))
            else:
                new_value = self.expr(value)
            call = _call("$setmember", obj, py.Constant(target.name), new_value)
            return [py.Expr(value=_at(call, target.line, target.col))]
        if isinstance(target, n.Index):
            obj_tmp = self.func.fresh("")
            idx_tmp = self.func.fresh("")
            obj = py.NamedExpr(target=_store(obj_tmp), value=self.expr(target.obj))
            idx = py.NamedExpr(target=_store(idx_tmp), value=self.expr(target.index))
            if s.op != "=":
                assert isinstance(value, n.Binary)
                current = _at(
                    _call("$index", _load(obj_tmp), _load(idx_tmp)), target.line, target.col
                )
                new_value = self.binary_with(value, current, self.expr(value.right))
            else:
                new_value = self.expr(value)
            call = _call("$setindex", obj, idx, new_value)
            return [py.Expr(value=_at(call, target.line, target.col))]
        raise self.error("cannot assign to this", s)

    def stmt_ExprStmt(self, s: n.ExprStmt) -> list[py.stmt]:
        return [py.Expr(value=self.expr(s.expr))]

    def stmt_If(self, s: n.If) -> list[py.stmt]:
        test = self.cond(s.cond)
        then, _ = self.scoped_body(s.then)
        orelse: list[py.stmt] = []
        if s.orelse is not None:
            if len(s.orelse) == 1 and isinstance(s.orelse[0], n.If):
                orelse = self.statement(s.orelse[0])  # else-if: same scope rules as a block
            else:
                orelse, _ = self.scoped_body(s.orelse)
        return [py.If(test=test, body=then, orelse=orelse)]

    def stmt_While(self, s: n.While) -> list[py.stmt]:
        test = self.cond(s.cond)
        with self.loop(s.body):
            body, _ = self.scoped_body(s.body)
        return [py.While(test=test, body=body, orelse=[])]

    def stmt_For(self, s: n.For) -> list[py.stmt]:
        iterable = _at(_call("$iter", self.expr(s.iterable)), s.iterable.line, s.iterable.col)
        with self.loop(s.body):
            body, (var,) = self.scoped_body(s.body, ((s.var, s),))
        if var.boxed:
            item = self.func.fresh("")
            box = py.List(elts=[_load(item)], ctx=py.Load())
            body = [_at(py.Assign(targets=[_store(var.pyname)], value=box), s.line, s.col), *body]
            return [py.For(target=_store(item), iter=iterable, body=body, orelse=[])]
        return [py.For(target=_store(var.pyname), iter=iterable, body=body, orelse=[])]

    @contextmanager
    def loop(self, body: tuple[n.Stmt, ...]) -> Iterator[None]:
        func = self.func
        saved = func.loop_captured
        func.loop_depth += 1
        func.loop_captured = saved | _names_in_closures(body)
        try:
            yield
        finally:
            func.loop_depth -= 1
            func.loop_captured = saved

    def stmt_Block(self, s: n.Block) -> list[py.stmt]:
        body, _ = self.scoped_body(s.body)
        return body

    def stmt_Return(self, s: n.Return) -> list[py.stmt]:
        if self.func.is_module:
            if not self.top_return_allowed:
                raise self.error("'return' outside a function", s)
            # The older EasyLang let a file stop early with `return`; the value is evaluated
            # (for its side effects) and dropped.
            self.has_top_return = True
            stop = _at(py.Raise(exc=_call("$ProgramReturn"), cause=None), s.line, s.col)
            if s.value is None:
                return [stop]
            return [py.Expr(value=self.expr(s.value)), stop]
        if s.value is None:
            return [py.Return(value=None)]
        if _has_plus(s.value) and _is_pure(s.value):
            fast = _at(py.Return(value=self.expr_native_plus(s.value)), s.line, s.col)
            slow = _at(py.Return(value=self.safe(s.value)), s.line, s.col)
            return [self.retry([fast], [slow])]
        return [py.Return(value=self.expr(s.value))]

    def stmt_Break(self, s: n.Break) -> list[py.stmt]:
        if not self.func.loop_depth:
            raise self.error("'break' outside a loop", s)
        return [py.Break()]

    def stmt_Continue(self, s: n.Continue) -> list[py.stmt]:
        if not self.func.loop_depth:
            raise self.error("'continue' outside a loop", s)
        return [py.Continue()]

    def stmt_Throw(self, s: n.Throw) -> list[py.stmt]:
        exc = _at(_call("$throw", self.expr(s.value)), s.line, s.col)
        return [py.Raise(exc=exc, cause=None)]

    def stmt_Try(self, s: n.Try) -> list[py.stmt]:
        # A loop's break/continue inside `finally` is fine in Python 3.8+.
        body, _ = self.scoped_body(s.body)
        handlers: list[py.ExceptHandler] = []
        if s.handler is not None:
            exc_name = self.func.fresh("exc")
            if s.catch_name:
                hbody, (var,) = self.scoped_body(s.handler, ((s.catch_name, s),))
                caught: py.expr = _call("$catch", _load(exc_name))
                if var.boxed:
                    caught = py.List(elts=[caught], ctx=py.Load())
                bind = py.Assign(targets=[_store(var.pyname)], value=caught)
                hbody = [bind, *hbody]
            else:
                hbody, _ = self.scoped_body(s.handler)
            handlers.append(py.ExceptHandler(type=_load("$Exception"), name=exc_name, body=hbody))
        final: list[py.stmt] = []
        if s.finalbody is not None:
            final, _ = self.scoped_body(s.finalbody)
        return [py.Try(body=body, handlers=handlers, orelse=[], finalbody=final)]

    def stmt_Import(self, s: n.Import) -> list[py.stmt]:
        if not self.func.is_module:
            raise self.error("'import' is only allowed at the top level of a file", s)
        args = (_call("$globals"), py.Constant(s.path), py.Constant(self.filename))
        if s.alias is None:
            return [py.Expr(value=_at(_call("$import_names", *args), s.line, s.col))]
        target = self.resolve_store(s.alias, s)
        call = _at(_call("$import_module", *args), s.line, s.col)
        return [py.Assign(targets=[target], value=call)]

    def stmt_Delete(self, s: n.Delete) -> list[py.stmt]:
        target = s.target
        if isinstance(target, n.Member):
            key: py.expr = py.Constant(target.name)
        else:
            assert isinstance(target, n.Index)
            key = self.expr(target.index)
        call = _call("$delete", self.expr(target.obj), key)
        return [py.Expr(value=_at(call, target.line, target.col))]

    def stmt_Include(self, s: n.Include) -> list[py.stmt]:
        if not self.func.is_module:
            raise self.error("'include' is only allowed at the top level of a file", s)
        args = (_call("$globals"), py.Constant(s.path), py.Constant(self.filename))
        return [py.Expr(value=_at(_call("$include", *args), s.line, s.col))]

    def stmt_UsePython(self, s: n.UsePython) -> list[py.stmt]:
        # The runtime is the builtin import_python(name); `use python` is its statement form.
        target = self.resolve_store(s.alias, s)
        call = _at(_call("import_python", py.Constant(s.module)), s.line, s.col)
        return [py.Assign(targets=[target], value=call)]

    def stmt_Listen(self, s: n.Listen) -> list[py.stmt]:
        func = self.hoist_function(s.func, f"listen_{s.event}")
        call = _call(self.resolve_load("listen"), py.Constant(s.event), func)
        return [py.Expr(value=_at(call, s.line, s.col))]

    # ------------------------------------------------------------------ expressions

    def expr(self, e: n.Expr) -> py.expr:
        method: Callable[[Any], py.expr] = getattr(self, "expr_" + type(e).__name__)
        node = method(e)
        if not hasattr(node, "lineno"):
            _at(node, e.line, e.col)
        return node

    def safe(self, e: n.Expr) -> py.expr:
        """Compile ``e`` with ``+`` as the EasyLang helper (the slow, always-right path)."""
        saved, self.safe_plus = self.safe_plus, True
        try:
            return self.expr(e)
        finally:
            self.safe_plus = saved

    def expr_native_plus(self, e: n.Expr) -> py.expr:
        """Compile pure ``e`` with Python's ``+`` (only inside a TypeError retry)."""
        if isinstance(e, n.Binary) and e.op == "+":
            left = self.expr_native_plus(e.left)
            right = self.expr_native_plus(e.right)
            return _at(py.BinOp(left=left, op=py.Add(), right=right), e.line, e.col)
        if isinstance(e, n.Binary) and e.op in ("-", "*"):
            left = self.expr_native_plus(e.left)
            right = self.expr_native_plus(e.right)
            return _at(py.BinOp(left=left, op=_ARITH[e.op](), right=right), e.line, e.col)
        if isinstance(e, n.Binary) and e.op in _COMPARE:
            left = self.expr_native_plus(e.left)
            right = self.expr_native_plus(e.right)
            return _at(
                py.Compare(left=left, ops=[_COMPARE[e.op]()], comparators=[right]), e.line, e.col
            )
        if isinstance(e, n.Unary) and e.op == "-":
            operand = self.expr_native_plus(e.operand)
            return _at(py.UnaryOp(op=py.USub(), operand=operand), e.line, e.col)
        return self.expr(e)

    def expr_Literal(self, e: n.Literal) -> py.expr:
        return py.Constant(e.value)

    def expr_Name(self, e: n.Name) -> py.expr:
        var = self.block.lookup(e.name)
        if var is not None and var.boxed:
            return py.Subscript(value=_load(var.pyname), slice=py.Constant(0), ctx=py.Load())
        return _load(self.resolve_load(e.name))

    def expr_ArrayLit(self, e: n.ArrayLit) -> py.expr:
        return py.List(elts=[self.expr(x) for x in e.items], ctx=py.Load())

    def expr_ObjectLit(self, e: n.ObjectLit) -> py.expr:
        keys: list[py.expr | None] = [py.Constant(k) for k, _ in e.entries]
        return py.Dict(keys=keys, values=[self.expr(v) for _, v in e.entries])

    def expr_FuncExpr(self, e: n.FuncExpr) -> py.expr:
        return self.hoist_function(e)

    def expr_Unary(self, e: n.Unary) -> py.expr:
        if e.op == "not":
            return py.UnaryOp(op=py.Not(), operand=self.cond(e.operand))
        op = py.USub() if e.op == "-" else py.UAdd()
        return py.UnaryOp(op=op, operand=self.expr(e.operand))

    def expr_Binary(self, e: n.Binary) -> py.expr:
        op = e.op
        if op == "==" or op == "!=":
            return self.equality(e, op == "!=")
        left = self.expr(e.left)
        right = self.expr(e.right)
        return self.binary_with(e, left, right)

    def binary_with(self, e: n.Binary, left: py.expr, right: py.expr) -> py.expr:
        op = e.op
        if op == "+":
            return _at(self.plus(e, left, right), e.line, e.col)
        if op in _ARITH:
            return _at(py.BinOp(left=left, op=_ARITH[op](), right=right), e.line, e.col)
        if op == "%":
            return _at(_call("$mod", left, right), e.line, e.col)
        if op == "/":
            return _at(_call("$div", left, right), e.line, e.col)
        if op in _COMPARE:
            return _at(
                py.Compare(left=left, ops=[_COMPARE[op]()], comparators=[right]), e.line, e.col
            )
        if op == "in" or op == "not in":
            found: py.expr = _call("$in", left, right)
            if op == "not in":
                found = py.UnaryOp(op=py.Not(), operand=found)
            return _at(found, e.line, e.col)
        if op in ("==", "!="):
            test: py.expr = _call("$eq", left, right)
            if op == "!=":
                test = py.UnaryOp(op=py.Not(), operand=test)
            return _at(test, e.line, e.col)
        raise AssertionError(f"unknown operator {op}")

    def plus(self, e: n.Binary, left: py.expr, right: py.expr) -> py.expr:
        """``+``: native when both sides have the same type (checked inline), else the helper."""
        lit_l = e.left if isinstance(e.left, n.Literal) else None
        lit_r = e.right if isinstance(e.right, n.Literal) else None
        if (
            self.safe_plus
            or (lit_l and type(lit_l.value) is str)
            or (lit_r and type(lit_r.value) is str)
        ):
            return _call("$add", left, right)
        native_type = None
        for lit in (lit_l, lit_r):
            if lit is not None and type(lit.value) in (int, float):
                native_type = "$int" if type(lit.value) is int else "$float"
        if native_type is not None and (lit_l is None or lit_r is None):
            # One side is a number literal: check only the other side's type.
            tmp = self.func.fresh("")
            if lit_l is None:
                bound: py.expr = py.NamedExpr(target=_store(tmp), value=left)
                fast = py.BinOp(left=_load(tmp), op=py.Add(), right=right)
                slow = _call("$add", _load(tmp), right)
            else:
                bound = py.NamedExpr(target=_store(tmp), value=right)
                fast = py.BinOp(left=left, op=py.Add(), right=_load(tmp))
                slow = _call("$add", left, _load(tmp))
            test = _is(_call("$type", bound), _load(native_type))
            return py.IfExp(test=test, body=fast, orelse=slow)
        ta, tb = self.func.fresh(""), self.func.fresh("")
        test = _is(
            _call("$type", py.NamedExpr(target=_store(ta), value=left)),
            _call("$type", py.NamedExpr(target=_store(tb), value=right)),
        )
        fast = py.BinOp(left=_load(ta), op=py.Add(), right=_load(tb))
        return py.IfExp(test=test, body=fast, orelse=_call("$add", _load(ta), _load(tb)))

    def equality(self, e: n.Binary, negate: bool) -> py.expr:
        if isinstance(e.left, n.Literal) and isinstance(e.right, n.Literal):
            from ezlang.lang.values import equals

            return py.Constant(equals(e.left.value, e.right.value) != negate)
        lit, other = None, None
        if isinstance(e.right, n.Literal):
            lit, other = e.right, e.left
        elif isinstance(e.left, n.Literal):
            lit, other = e.left, e.right
        if lit is not None and other is not None:
            v = lit.value
            if v is None or type(v) is bool:
                op: py.cmpop = py.IsNot() if negate else py.Is()
                return py.Compare(left=self.expr(other), ops=[op], comparators=[py.Constant(v)])
            if type(v) is str or (type(v) in (int, float) and v != 0 and v != 1):
                # No other EasyLang value is == to this one in Python but not in EasyLang.
                op = py.NotEq() if negate else py.Eq()
                if lit is e.right:
                    return py.Compare(left=self.expr(other), ops=[op], comparators=[py.Constant(v)])
                return py.Compare(left=py.Constant(v), ops=[op], comparators=[self.expr(other)])
        test: py.expr = _call("$eq", self.expr(e.left), self.expr(e.right))
        if negate:
            test = py.UnaryOp(op=py.Not(), operand=test)
        return test

    def expr_Logical(self, e: n.Logical) -> py.expr:
        if _is_boolean(e.left):
            op = py.And() if e.op == "and" else py.Or()
            return py.BoolOp(op=op, values=[self.expr(e.left), self.expr(e.right)])
        tmp = self.func.fresh("")
        test = _call("$truthy", py.NamedExpr(target=_store(tmp), value=self.expr(e.left)))
        right = self.expr(e.right)
        if e.op == "and":
            return py.IfExp(test=test, body=right, orelse=_load(tmp))
        return py.IfExp(test=test, body=_load(tmp), orelse=right)

    def cond(self, e: n.Expr) -> py.expr:
        """Compile ``e`` where only its truthiness matters."""
        if isinstance(e, n.Logical):
            op = py.And() if e.op == "and" else py.Or()
            return _at(
                py.BoolOp(op=op, values=[self.cond(e.left), self.cond(e.right)]), e.line, e.col
            )
        if _is_boolean(e):
            return self.expr(e)
        return _at(_call("$truthy", self.expr(e)), e.line, e.col)

    def expr_Call(self, e: n.Call) -> py.expr:
        func = self.expr(e.callee)
        return py.Call(func=func, args=[self.expr(a) for a in e.args], keywords=[])

    def expr_Member(self, e: n.Member) -> py.expr:
        return _call("$member", self.expr(e.obj), py.Constant(e.name))

    def expr_Index(self, e: n.Index) -> py.expr:
        return _call("$index", self.expr(e.obj), self.expr(e.index))
