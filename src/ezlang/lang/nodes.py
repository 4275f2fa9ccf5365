"""EasyLang AST: small frozen dataclasses, each with its source position.

``line``/``col`` are 1-based and point at the token that best names the node for error
messages (for a binary operation: the operator; for a call: the start of the callee).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Node:
    line: int
    col: int


# ---------------------------------------------------------------- expressions


@dataclass(frozen=True, slots=True)
class Expr(Node):
    pass


@dataclass(frozen=True, slots=True)
class Literal(Expr):
    """A number, string, ``true``/``false`` or ``null``."""

    value: Any


@dataclass(frozen=True, slots=True)
class Name(Expr):
    name: str


@dataclass(frozen=True, slots=True)
class ArrayLit(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class ObjectLit(Expr):
    entries: tuple[tuple[str, Expr], ...]


@dataclass(frozen=True, slots=True)
class FuncExpr(Expr):
    """``func (params) { body }``; ``name`` is set for declarations and ``let f = func…``."""

    name: str | None
    params: tuple[str, ...]
    body: tuple[Stmt, ...]
    end_line: int = 0


@dataclass(frozen=True, slots=True)
class Unary(Expr):
    """``-x``, ``+x``, ``not x`` (``!x`` is ``not``)."""

    op: str
    operand: Expr


@dataclass(frozen=True, slots=True)
class Binary(Expr):
    """Arithmetic and comparison: ``+ - * / % == != < <= > >=``."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Logical(Expr):
    """``and``/``or`` (``&&``/``||``), short-circuiting, returning an operand."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Call(Expr):
    callee: Expr
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Member(Expr):
    """``obj.name``."""

    obj: Expr
    name: str


@dataclass(frozen=True, slots=True)
class Index(Expr):
    """``obj[index]``."""

    obj: Expr
    index: Expr


# ---------------------------------------------------------------- statements


@dataclass(frozen=True, slots=True)
class Stmt(Node):
    pass


@dataclass(frozen=True, slots=True)
class ExprStmt(Stmt):
    expr: Expr


@dataclass(frozen=True, slots=True)
class Let(Stmt):
    """``let``/``var``/``const`` name ``= value``."""

    kind: str
    name: str
    value: Expr | None


@dataclass(frozen=True, slots=True)
class Assign(Stmt):
    """``target = value`` or ``target op= value`` (``op`` is ``"="``, ``"+="``, …)."""

    target: Expr
    op: str
    value: Expr


@dataclass(frozen=True, slots=True)
class FuncDecl(Stmt):
    func: FuncExpr


@dataclass(frozen=True, slots=True)
class If(Stmt):
    cond: Expr
    then: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...] | None


@dataclass(frozen=True, slots=True)
class While(Stmt):
    cond: Expr
    body: tuple[Stmt, ...]


@dataclass(frozen=True, slots=True)
class For(Stmt):
    """``for var in iterable { body }``."""

    var: str
    iterable: Expr
    body: tuple[Stmt, ...]


@dataclass(frozen=True, slots=True)
class Block(Stmt):
    """A bare ``{ ... }`` block (its own scope)."""

    body: tuple[Stmt, ...]


@dataclass(frozen=True, slots=True)
class Return(Stmt):
    value: Expr | None


@dataclass(frozen=True, slots=True)
class Break(Stmt):
    pass


@dataclass(frozen=True, slots=True)
class Continue(Stmt):
    pass


@dataclass(frozen=True, slots=True)
class Throw(Stmt):
    value: Expr


@dataclass(frozen=True, slots=True)
class Try(Stmt):
    body: tuple[Stmt, ...]
    catch_name: str | None
    handler: tuple[Stmt, ...] | None
    finalbody: tuple[Stmt, ...] | None


@dataclass(frozen=True, slots=True)
class Import(Stmt):
    """``import "path"`` (binds the module's top-level names) or ``import "path" as name``."""

    path: str
    alias: str | None


@dataclass(frozen=True, slots=True)
class Listen(Stmt):
    """``listen "event" (params) { body }`` — a call of the builtin ``listen(event, func)``."""

    event: str
    func: FuncExpr


@dataclass(frozen=True, slots=True)
class Module(Node):
    body: tuple[Stmt, ...]
    filename: str
