"""Where the document builders run: one worker thread, and the freed heap handed back afterwards.

Building a DOCX (python-docx/lxml), the roster (openpyxl) or the chart (matplotlib) allocates several
MB of small native blocks and frees them again. Most of the growth seen under load came from forms
whose XML stayed alive until a full garbage collection (fixed in `docx_form`); what is left is glibc
keeping freed pages inside its heaps (fragmented: live blocks of the interpreter and of other threads
sit in between), made worse by concurrent builds in the default executor's threads, each with its
own malloc arena. Hence:

- the builds run one at a time, in one dedicated thread (its own arena, reused; on 2 cores and with
  the GIL, parallel builds gained nothing), so at most one document's working set is alive;
- after each build `malloc_trim(0)` returns the free pages of every arena to the system (~2–5 ms,
  in the worker thread, without the GIL; 3–6 MB less at the peak of the benchmark's load phase).
  Not available (musl, macOS…): skipped.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="exports")


def _malloc_trim() -> Callable[[], None]:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return lambda: None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def release() -> None:
        trim(0)

    return release


release_memory = _malloc_trim()


def _call(fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
    try:
        return fn(*args, **kwargs)
    finally:
        release_memory()


async def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` in the export thread (after the builds queued before it), then trim the heap."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor, functools.partial(_call, fn, args, kwargs))
