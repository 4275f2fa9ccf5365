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

The compiler is one class in three layers, a module each: ``compile_scopes`` (variables,
blocks, name resolution), ``compile_expressions`` (expressions and operators) and this module
(the file's top level, functions and closures, statements).
"""

from __future__ import annotations

import ast as py
import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ezlang.lang import nodes as n
from ezlang.lang.compile_expressions import ExpressionCompiler, _has_plus, _is_pure
from ezlang.lang.compile_scopes import (
    Block,
    FuncScope,
    Var,
    _at,
    _call,
    _load,
    _names_in_closures,
    _store,
    mangle,
)


class Compiler(ExpressionCompiler):
    """Compiles one EasyLang module (or snippet) to a Python ``ast.Module``: the module,
    functions and closures, and statements (expressions and scopes in its base classes)."""

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
