"""EasyLang compiler, expressions: EasyLang expressions → Python ``ast`` expressions.

Operators are native where Python agrees with EasyLang for the operand types, the ``ops.py``
helpers (``$name`` builtins) where it does not; the design is in ``compiler``'s docstring.
"""

from __future__ import annotations

import ast as py
from collections.abc import Callable
from typing import Any

from ezlang.lang import nodes as n
from ezlang.lang.compile_scopes import ScopeCompiler, _at, _call, _is, _load, _store

_ARITH = {"-": py.Sub, "*": py.Mult, "+": py.Add}
_COMPARE = {"<": py.Lt, "<=": py.LtE, ">": py.Gt, ">=": py.GtE}


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


class ExpressionCompiler(ScopeCompiler):
    """Compiles expressions (and conditions) within the current scope."""

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
