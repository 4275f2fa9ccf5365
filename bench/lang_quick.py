"""Quick check of the language core's performance targets (the official benchmark is
bench/lang_bench.py): fib(30) and a 1M-iteration while loop, EasyLang vs plain Python, in
one process and one run. Compute time only (compile and startup excluded).

    python bench/lang_quick.py
"""

from __future__ import annotations

import asyncio
import time

from ezlang.lang import call_async, compile_source

FIB_EZ = """
func fib(n) {
    if n < 2 { return n }
    return fib(n - 1) + fib(n - 2)
}
let result = fib(30)
"""

LOOP_EZ = """
let i = 0
let total = 0
while i < 1000000 {
    total = total + i * i
    i = i + 1
}
"""

FIB_PY = """
def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)
result = fib(30)
"""

LOOP_PY = """
i = 0
total = 0
while i < 1000000:
    total = total + i * i
    i = i + 1
"""


def time_ez(source: str) -> float:
    program = compile_source(source, "<bench>")
    start = time.perf_counter()
    asyncio.run(call_async(program.run))
    return time.perf_counter() - start


def time_py(source: str) -> float:
    code = compile(source, "<bench>", "exec")
    start = time.perf_counter()
    exec(code, {})
    return time.perf_counter() - start


def best(fn: object, source: str, runs: int = 3) -> float:
    return min(fn(source) for _ in range(runs))  # type: ignore[operator]


def main() -> None:
    for name, ez, pysrc in (("fib(30)", FIB_EZ, FIB_PY), ("loop 1M", LOOP_EZ, LOOP_PY)):
        t_py = best(time_py, pysrc)
        t_ez = best(time_ez, ez)
        print(f"{name:10} python {t_py:.3f} s   ezlang {t_ez:.3f} s   ratio {t_ez / t_py:.2f}x")


if __name__ == "__main__":
    main()
