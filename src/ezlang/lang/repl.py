"""``ezlang repl``: the interactive EasyLang prompt.

* Line editing and history (``~/.ezlang_history``) come from prompt_toolkit when stdin and
  stdout are a terminal; otherwise (a pipe, a test) lines are read with plain ``readline`` and
  no prompt decorations are printed, so ``echo 'print(1)' | ezlang repl`` prints ``1``.
* Input continues over several lines while a bracket or block comment is open, or the line
  ends with a binary operator or a comma (the same rule the language uses).
* Variables and functions persist from one input to the next. When the input ends with an
  expression statement, its value is printed (as ``str`` shows it, strings quoted), unless it
  is ``null`` — so ``print("hi")`` shows ``hi`` once, like Python's prompt.
* An error prints its positioned message and the prompt carries on; Ctrl-C abandons the
  current input (or interrupts running code), Ctrl-D (end of input) leaves with exit code 0.
* ``help`` prints a short guide; ``exit`` or ``quit`` (also ``exit()``) leaves. On a terminal,
  Tab completes the names defined so far, builtins and keywords, and ``name.`` followed by Tab
  the keys of an object held in a variable (:func:`completions`).

The event loop keeps running while the prompt waits for input, so a bot started from the
REPL stays connected and its handlers run between prompts.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any, Protocol

from ezlang.lang import context
from ezlang.lang.asyncbridge import call_async, in_easylang
from ezlang.lang.context import RunContext
from ezlang.lang.errors import EzError
from ezlang.lang.lexer import EOF, NEWLINE, OP, tokenize
from ezlang.lang.values import EzObject, to_repr

PROMPT = "ez> "
CONTINUATION = "... "
FILENAME = "<repl>"
HISTORY_FILE = "~/.ezlang_history"

_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {")", "]", "}"}
# A line ending in one of these continues on the next line (binary operators and a comma).
_CONTINUING_OPS = {
    "+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "&&", "||", ",", "=",
    "+=", "-=", "*=", "/=", "%=", ".",
}  # fmt: skip
_CONTINUING_WORDS = {"and", "or", "not"}


def needs_more_input(text: str) -> bool:
    """True while ``text`` is an unfinished statement: an open bracket or block comment, or a
    last line ending with a binary operator or a comma. Other errors are left to the parser."""
    try:
        tokens = tokenize(text, FILENAME)
    except EzError as exc:
        return exc.message.startswith("unterminated comment")
    depth = 0
    for tok in tokens:
        if tok.kind == OP:
            if tok.value in _OPENERS:
                depth += 1
            elif tok.value in _CLOSERS:
                depth -= 1
    if depth > 0:
        return True
    significant = [t for t in tokens if t.kind not in (NEWLINE, EOF)]
    if not significant:
        return False
    last = significant[-1]
    if last.kind == OP and last.value in _CONTINUING_OPS:
        return True
    return last.kind == "name" and last.value in _CONTINUING_WORDS


#: Words the prompt itself understands (checked before the input is compiled).
EXIT_WORDS = frozenset({"exit", "quit", "exit()", "quit()"})
HELP_WORDS = frozenset({"help", "help()"})

HELP_TEXT = """\
Type EasyLang code and press Enter; the value of an expression is shown.
  let x = 5          variables and functions stay defined until you leave
  x * 2              shows 10
  func twice(n) {    an open bracket continues the input on the next line
    return n * 2
  }
Tab completes names and builtins; arrow keys recall earlier input.
An error shows its message and the prompt carries on; Ctrl-C stops running code.
exit or quit (or Ctrl-D) leaves. The language: docs/LANGUAGE.md; bots: docs/BOTS.md."""

#: Statement and expression keywords offered by completion.
KEYWORDS = (
    "let var const func function return if else while for in break continue try catch "
    "finally throw import as listen true false null and or not include use python"
).split()

_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _trailing_word(text: str) -> str:
    i = len(text)
    while i > 0 and text[i - 1] in _WORD_CHARS:
        i -= 1
    return text[i:]


def completions(text: str, namespace: dict[str, Any]) -> list[str]:
    """What Tab offers at the end of ``text`` (the input before the cursor), sorted.

    After ``name.`` the keys of the object in the variable ``name``; otherwise the names the
    session has defined, the builtins, the keywords and the prompt's own words that start with
    the word being typed. Nothing is evaluated: only variables are looked at.
    """
    from ezlang.lang.registry import BUILTINS

    word = _trailing_word(text)
    before = text[: len(text) - len(word)]
    if before.endswith("."):
        owner = _trailing_word(before[:-1])
        if not owner or before[: len(before) - 1 - len(owner)].endswith("."):
            return []  # a longer chain (a.b.c): would need evaluating
        value = namespace.get(owner)
        if isinstance(value, dict):
            keys = [k for k in value if isinstance(k, str)]
        elif isinstance(value, EzObject):
            keys = value.ez_keys()
        else:
            return []
        return sorted(k for k in keys if k.startswith(word))
    if not word or word[0].isdigit():
        return []
    names = {k for k in namespace if "$" not in k and not k.startswith("__")}
    names.update(k for k in BUILTINS if "$" not in k)
    names.update(KEYWORDS)
    names.update(("help", "exit", "quit"))
    return sorted(name for name in names if name.startswith(word) and name != word)


class _LineReader(Protocol):
    async def read(self, prompt: str) -> str | None:  # None at end of input
        ...


class _PipeReader:
    """Plain line reading for pipes and tests; no prompt is shown."""

    async def read(self, prompt: str) -> str | None:
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        if line == "":
            return None
        return line.rstrip("\n")


class _PromptReader:
    """prompt_toolkit line editing with persistent history."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.completion import Completer, Completion
        from prompt_toolkit.history import FileHistory, InMemoryHistory
        from prompt_toolkit.key_binding import KeyBindings

        class NameCompleter(Completer):  # type: ignore[misc]
            def get_completions(self, document: Any, complete_event: Any) -> Any:
                text = document.text_before_cursor
                start = -len(_trailing_word(text))
                for name in completions(text, namespace):
                    yield Completion(name, start_position=start)

        history: Any
        try:
            path = Path(os.path.expanduser(HISTORY_FILE))
            path.touch(exist_ok=True)
            history = FileHistory(str(path))
        except OSError:
            history = InMemoryHistory()
        bindings = KeyBindings()

        @bindings.add("enter")
        def _enter(event: Any) -> None:
            # Enter runs the input when it is complete, else starts a new line of it, so a
            # whole function is one history entry and can be edited as one.
            buffer = event.current_buffer
            if needs_more_input(buffer.text):
                buffer.insert_text("\n")
            else:
                buffer.validate_and_handle()

        self.session: Any = PromptSession(
            history=history,
            completer=NameCompleter(),
            complete_while_typing=False,
            multiline=True,
            key_bindings=bindings,
            prompt_continuation=lambda width, line_number, soft_wrap: CONTINUATION,
        )

    async def read(self, prompt: str) -> str | None:
        try:
            return str(await self.session.prompt_async(prompt))
        except EOFError:
            return None
        except KeyboardInterrupt:
            return ""  # Ctrl-C: drop the current input, show a fresh prompt


class ReplSession:
    """One REPL's state: the namespace shared by all inputs, and how to run an input."""

    def __init__(self, *, debug: bool = False) -> None:
        import ezlang.lang.builtins  # noqa: F401  (registers the core builtins)
        from ezlang.lang import new_namespace

        self.debug = debug
        self.namespace: dict[str, Any] = new_namespace()
        self.count = 0
        self.running: asyncio.Future[Any] | None = None

    def interrupt(self, signum: int, frame: Any) -> None:
        """SIGINT while code runs: stop that code, not the REPL (a busy loop included)."""
        task = self.running
        if task is None or task.done():
            return
        # call_soon_threadsafe wakes the loop if it sleeps in select() (code in wait()).
        task.get_loop().call_soon_threadsafe(task.cancel)
        if in_easylang():
            # EasyLang code is executing right now and may never yield to the loop.
            raise asyncio.CancelledError

    async def execute(self, text: str) -> tuple[bool, Any]:
        """Run one complete input; returns (has_value, value of the final expression)."""
        from ezlang.lang import NO_VALUE, compile_interactive

        self.count += 1
        run = compile_interactive(text, self.namespace)
        result = await call_async(run)
        if result is NO_VALUE:
            return False, None
        return True, result

    def show_error(self, exc: BaseException) -> None:
        from ezlang.lang import format_error

        sys.stdout.flush()
        text = format_error(exc, debug=self.debug)
        sys.stderr.write(text if text.endswith("\n") else text + "\n")
        sys.stderr.flush()


async def _repl(reader: _LineReader, session: ReplSession, show_banner: bool) -> int:
    if show_banner:
        from ezlang import __version__

        print(
            f"EasyLang {__version__} — type code and press Enter; 'help' for a guide, 'exit' to leave."
        )
    while True:
        lines: list[str] = []
        while True:
            line = await reader.read(PROMPT if not lines else CONTINUATION)
            if line is None:
                if lines:  # end of input in the middle of a statement: run what we have
                    break
                return 0
            lines.append(line)
            if not needs_more_input("\n".join(lines)):
                break
        text = "\n".join(lines)
        word = text.strip()
        if not word:
            continue
        if word in EXIT_WORDS:
            return 0
        if word in HELP_WORDS:
            print(HELP_TEXT)
            continue
        task = asyncio.ensure_future(session.execute(text))
        session.running = task
        try:
            has_value, value = await task
        except asyncio.CancelledError:
            if not task.cancelled():
                raise  # the REPL itself is being cancelled
            sys.stderr.write("interrupted\n")
            continue
        except Exception as exc:  # every error is shown; the prompt carries on
            session.show_error(exc)
            continue
        finally:
            session.running = None
        if has_value and value is not None:
            print(to_repr(value))
        sys.stdout.flush()


def run_repl(*, debug: bool = False) -> int:
    """Run the interactive prompt until end of input; returns the exit code (0)."""
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    ctx = RunContext(main_file=None, debug=debug)
    previous = context.set_current(ctx)
    session = ReplSession(debug=debug)
    reader: _LineReader = _PromptReader(session.namespace) if interactive else _PipeReader()
    old_handler = signal.signal(signal.SIGINT, session.interrupt)
    try:
        return asyncio.run(_repl(reader, session, show_banner=interactive))
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGINT, old_handler)
        context.set_current(previous)
