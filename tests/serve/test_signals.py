import os
import signal

import pytest

from t2po.serve.signals import stop_on_interrupt_or_term


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_and_term_raise_keyboard_interrupt_even_if_ignored(signum: int) -> None:
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a background job inherits it
        stop_on_interrupt_or_term()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signum)
            signal.sigtimedwait([], 0.5)  # give the handler a bytecode boundary to run at
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
