"""``import "file.ez"``: resolve relative to the importing file, run each file once per
program run, detect cycles. ``include "file.ez"``: run the file in the including file's scope.

Each run of a :class:`~ezlang.lang.Program` owns an :class:`ImportState` (kept in the module
namespace under ``$state``), shared by every module that run imports, so a module runs once
per program, and two programs in one process (tests, shards) do not share module state.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ezlang.lang.errors import EzError

STATE_KEY = "$state"


@dataclass
class ImportState:
    """The modules of one program run: loaded namespaces and the chain being loaded."""

    modules: dict[str, dict[str, Any]] = field(default_factory=dict)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    loading: list[str] = field(default_factory=list)
    including: list[str] = field(default_factory=list)


def exports(namespace: dict[str, Any]) -> dict[str, Any]:
    """The top-level names a module shares (not compiler internals or block variables)."""
    return {k: v for k, v in namespace.items() if "$" not in k and not k.startswith("__")}


def resolve_path(path: str, importer: str) -> str:
    """The file ``import "path"`` / ``include "path"`` in ``importer`` names."""
    base = os.getcwd()
    if importer and not importer.startswith("<"):
        base = os.path.dirname(os.path.abspath(importer))
    full = os.path.normpath(os.path.join(base, path))
    if not os.path.exists(full) and not os.path.splitext(full)[1]:
        for ext in (".ez", ".ezlang"):
            if os.path.exists(full + ext):
                return full + ext
    return full


def display_path(path: str) -> str:
    """``path`` as errors show it: relative to the working directory when it is below it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def load(namespace: dict[str, Any], path: str, importer: str) -> dict[str, Any]:
    """Run the module ``path`` (once per program run) and return its namespace."""
    from ezlang.lang import compile_file, new_namespace

    state = namespace.get(STATE_KEY)
    if not isinstance(state, ImportState):
        state = namespace[STATE_KEY] = ImportState()
    full = resolve_path(path, importer)
    if full in state.modules:
        return state.modules[full]
    if full in state.loading:
        chain = state.loading[state.loading.index(full) :] + [full]
        shown = " → ".join(display_path(p) for p in chain)
        raise EzError("ImportError", f"import cycle: {shown}")
    if not os.path.isfile(full):
        raise EzError("ImportError", f'cannot import "{path}": no file {display_path(full)}')
    program = compile_file(display_path(full))
    module_ns = new_namespace(state)
    state.loading.append(full)
    try:
        exec(program.code, module_ns)
    finally:
        state.loading.pop()
    state.modules[full] = module_ns
    return module_ns


def import_names(namespace: dict[str, Any], path: str, importer: str) -> None:
    """``import "path"``: bind the module's top-level names in the importing file."""
    namespace.update(exports(load(namespace, path, importer)))


def import_module(namespace: dict[str, Any], path: str, importer: str) -> dict[str, Any]:
    """``import "path" as name``: the module's top-level names as one object."""
    module_ns = load(namespace, path, importer)
    state: ImportState = namespace[STATE_KEY]
    full = resolve_path(path, importer)
    obj = state.objects.get(full)
    if obj is None:
        obj = state.objects[full] = exports(module_ns)
    return obj


def include(namespace: dict[str, Any], path: str, includer: str) -> None:
    """``include "path"``: compile the file and run it in ``namespace``, the including file's
    own: it sees the names defined there so far, and its top-level names become the
    includer's (the older EasyLang's layout: command files using the main file's helpers).
    Unlike ``import`` it runs each time it is included; a file including itself is an error."""
    import hashlib

    from ezlang.lang import _attach_source_line, _compile_tree
    from ezlang.lang.compile_scopes import _declared_in
    from ezlang.lang.compiler import Compiler
    from ezlang.lang.errors import register_source
    from ezlang.lang.parser import parse

    state = namespace.get(STATE_KEY)
    if not isinstance(state, ImportState):
        state = namespace[STATE_KEY] = ImportState()
    full = resolve_path(path, includer)
    # The files being run right now: the includes in progress and the file including.
    active = list(state.including)
    if includer and not includer.startswith("<"):
        top = os.path.normpath(os.path.abspath(includer))
        if not active or active[-1] != top:
            active.append(top)
    if full in active:
        chain = active[active.index(full) :] + [full]
        shown = " → ".join(display_path(p) for p in chain)
        raise EzError("ImportError", f"include cycle: {shown}")
    if not os.path.isfile(full):
        raise EzError("ImportError", f'cannot include "{path}": no file {display_path(full)}')
    shown_name = display_path(full)
    try:
        with open(full, encoding="utf-8") as fh:
            source = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise EzError("ImportError", f"cannot read {shown_name}: {exc}") from None
    module = None
    try:
        module = parse(source, shown_name)
        # Names the includer has now are the included file's globals (so its functions update
        # them rather than making locals); names it declares itself are its own to declare.
        known = set(exports(namespace)) - _declared_in(module.body)
        tag = hashlib.sha1(full.encode()).hexdigest()[:8] + "_"
        tree = Compiler(shown_name, known, fresh_tag=tag).compile_module(module)
        code = _compile_tree(tree, register_source(shown_name, source), module)
    except EzError as err:
        raise _attach_source_line(err, source) from None
    saved = state.including
    state.including = [*active, full]
    try:
        exec(code, namespace)
    finally:
        state.including = saved
