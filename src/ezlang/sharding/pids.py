"""Whether a process id still names a live process (one home for the check).

Used by a shard to notice that its manager is gone, and by the Redis directory to recognise a
manager of this machine that died without releasing its host name.
"""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` exists and is not a zombie (an exited, unreaped process).

    Not a parent check: a shard forked by the zygote has the zygote as its parent.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (not Linux): existence is all we can tell
