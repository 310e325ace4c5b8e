"""The inference writer's flush thread runs below the replicas' CPU priority, alone."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from raylake.serving._inference_log import BACKGROUND_NICE, background_priority


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_background_priority_lowers_only_the_calling_thread() -> None:
    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen: dict[str, int] = {}

    def flush_thread() -> None:
        background_priority()
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    thread = threading.Thread(target=flush_thread)
    thread.start()
    thread.join()
    assert seen["nice"] == min(before + BACKGROUND_NICE, 19)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before
