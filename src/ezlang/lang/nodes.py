"""EasyLang AST: small frozen value classes, each with its source position.

``line``/``col`` are 1-based and point at the token that best names the node for error
messages (for a binary operation: the operator; for a call: the start of the callee).

The classes behave like frozen dataclasses (keyword or positional construction, equality,
hash, repr, no mutation) but are built by :class:`Node`'s ``__init_subclass__`` instead of
``@dataclass``: generating ~30 dataclasses costs ~35 ms at import, a fifth of the budget for
starting ``ezlang run``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, dataclass_transform


@dataclass_transform(eq_default=True, kw_only_default=False)
class _Frozen:
    """Builds dataclass-like behaviour from the class annotations, in MRO order."""

    _fields: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields: list[str] = []
        for klass in reversed(cls.__mro__):
            for name, annotation in klass.__dict__.get("__annotations__", {}).items():
                if "ClassVar" not in str(annotation) and name not in fields:
                    fields.append(name)
        cls._fields = tuple(fields)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        fields = self._fields
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__} takes {len(fields)} fields")
        values = dict(zip(fields, args, strict=False))
        for key, value in kwargs.items():
            if key not in fields or key in values:
                raise TypeError(f"{type(self).__name__}: bad field {key!r}")
            values[key] = value
        for name in fields:
            if name in values:
                object.__setattr__(self, name, values[name])
            elif not hasattr(type(self), name):
                raise TypeError(f"{type(self).__name__}: missing field {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._values()))

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({inner})"


class Node(_Frozen):
    """Base of all AST nodes: a 1-based source position, then the node's own fields."""

    line: int
    col: int


# ---------------------------------------------------------------- expressions


class Expr(Node):
    pass


class Literal(Expr):
    """A number, string, ``true``/``false`` or ``null``."""

    value: Any


class Name(Expr):
    name: str


class ArrayLit(Expr):
    items: tuple[Expr, ...]


class ObjectLit(Expr):
    entries: tuple[tuple[str, Expr], ...]


class FuncExpr(Expr):
    """``func (params) { body }``; ``name`` is set for declarations and ``let f = func…``."""

    name: str | None
    params: tuple[str, ...]
    body: tuple[Stmt, ...]
    end_line: int = 0


class Unary(Expr):
    """``-x``, ``+x``, ``not x`` (``!x`` is ``not``)."""

    op: str
    operand: Expr


class Binary(Expr):
    """Arithmetic and comparison: ``+ - * / % == != < <= > >=`` and ``in`` / ``not in``."""

    op: str
    left: Expr
    right: Expr


class Logical(Expr):
    """``and``/``or`` (``&&``/``||``), short-circuiting, returning an operand."""

    op: str
    left: Expr
    right: Expr


class Call(Expr):
    callee: Expr
    args: tuple[Expr, ...]


class Member(Expr):
    """``obj.name``."""

    obj: Expr
    name: str


class Index(Expr):
    """``obj[index]``."""

    obj: Expr
    index: Expr


# ---------------------------------------------------------------- statements


class Stmt(Node):
    pass


class ExprStmt(Stmt):
    expr: Expr


class Let(Stmt):
    """``let``/``var``/``const`` name ``= value``."""

    kind: str
    name: str
    value: Expr | None


class Assign(Stmt):
    """``target = value`` or ``target op= value`` (``op`` is ``"="``, ``"+="``, …)."""

    target: Expr
    op: str
    value: Expr


class FuncDecl(Stmt):
    func: FuncExpr


class If(Stmt):
    cond: Expr
    then: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...] | None


class While(Stmt):
    cond: Expr
    body: tuple[Stmt, ...]


class For(Stmt):
    """``for var in iterable { body }``."""

    var: str
    iterable: Expr
    body: tuple[Stmt, ...]


class Block(Stmt):
    """A bare ``{ ... }`` block (its own scope)."""

    body: tuple[Stmt, ...]


class Return(Stmt):
    value: Expr | None


class Break(Stmt):
    pass


class Continue(Stmt):
    pass


class Throw(Stmt):
    value: Expr


class Try(Stmt):
    body: tuple[Stmt, ...]
    catch_name: str | None
    handler: tuple[Stmt, ...] | None
    finalbody: tuple[Stmt, ...] | None


class Import(Stmt):
    """``import "path"`` (binds the module's top-level names) or ``import "path" as name``."""

    path: str
    alias: str | None


class Delete(Stmt):
    """``delete obj[key]`` / ``delete obj.key``: remove a key from an object."""

    target: Expr


class Include(Stmt):
    """``include "path"``: run the file in the including file's scope (each time)."""

    path: str


class UsePython(Stmt):
    """``use python "module" as name``: ``name = import_python("module")``."""

    module: str
    alias: str


class Listen(Stmt):
    """``listen "event" (params) { body }`` — a call of the builtin ``listen(event, func)``."""

    event: str
    func: FuncExpr


class Module(Node):
    body: tuple[Stmt, ...]
    filename: str


def blocks(stmt: Stmt) -> Iterator[tuple[tuple[Stmt, ...], tuple[str, ...]]]:
    """The nested statement blocks of ``stmt`` (not function bodies), each with the names it
    declares on entry (a ``for`` variable, a ``catch`` variable)."""
    if isinstance(stmt, If):
        yield stmt.then, ()
        if stmt.orelse is not None:
            yield stmt.orelse, ()
    elif isinstance(stmt, While):
        yield stmt.body, ()
    elif isinstance(stmt, For):
        yield stmt.body, (stmt.var,)
    elif isinstance(stmt, Block):
        yield stmt.body, ()
    elif isinstance(stmt, Try):
        yield stmt.body, ()
        if stmt.handler is not None:
            yield stmt.handler, (stmt.catch_name,) if stmt.catch_name else ()
        if stmt.finalbody is not None:
            yield stmt.finalbody, ()


def children(node: Node) -> Iterator[Node]:
    """The nodes directly under ``node``: its node fields, and the nodes in its tuple fields
    (statement lists, arguments, and the ``(key, value)`` entries of object literals)."""
    for name in node._fields:
        value = getattr(node, name)
        if isinstance(value, Node):
            yield value
        elif isinstance(value, tuple):
            for item in value:
                if isinstance(item, Node):
                    yield item
                elif isinstance(item, tuple):
                    yield from (x for x in item if isinstance(x, Node))


def deepest(root: Node) -> Node:
    """The node nested deepest under ``root`` (the first one found at that depth).

    Iterative, so it works on trees too deep for the recursive compiler: it is how a "too deeply
    nested" error finds the construct to point at.
    """
    best, best_depth = root, 0
    stack: list[tuple[Any, int]] = [(root, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Node):
            if depth > best_depth:
                best, best_depth = item, depth
            children = [getattr(item, name) for name in item._fields]
            depth += 1
        elif isinstance(item, tuple):
            children = list(item)  # a field holding nodes (or (key, node) pairs)
        else:
            continue
        # Reversed, so the leftmost child is visited first and wins ties.
        stack.extend((child, depth) for child in reversed(children))
    return best
