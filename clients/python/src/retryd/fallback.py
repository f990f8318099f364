"""Local decisions for when retryd is unavailable.

A client made with ``fallback=`` calls it instead of raising
:class:`retryd.Unavailable`::

    client = retryd.Client(fallback=retryd.fallback.exponential(max_attempts=3))

A fallback is any ``(failure_count_or_attempt, error) -> Decision``; the client
marks its decision ``local=True`` and prefixes the explanation with why
retryd was not asked.
"""

from __future__ import annotations

import datetime as _dt

from ._types import Decision, ErrorInfo, Fallback

__all__ = ["exponential"]


def exponential(max_attempts: int = 3, base: float = 1.0, max_delay: float = 60.0) -> Fallback:
    """Retry after ``base``, ``2 * base``, ``4 * base``, ... seconds (at most
    ``max_delay``) until ``max_attempts`` attempts have failed; give up at once
    on an error the caller marked ``retryable=False``.

    It knows none of retryd's rules or policies: it only keeps a worker going,
    cautiously, until the sidecar answers again.
    """
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
    if base < 0 or max_delay < 0:
        raise ValueError("base and max_delay must not be negative")

    def decide(n: int, error: ErrorInfo) -> Decision:
        n = max(1, int(n))
        if error.retryable is False:
            return Decision(
                retry=False, reason="permanent_error", failure_count=n, max_attempts=max_attempts,
                error_class="permanent", category="caller", policy="local",
                explanation="the caller marked the error not retryable",
            )
        if n >= max_attempts:
            return Decision(
                retry=False, reason="retries_exhausted", failure_count=n, max_attempts=max_attempts,
                error_class="unknown", category="unknown", policy="local",
                explanation=f"attempt {n} of {max_attempts} failed: no retries left",
            )
        delay = min(max_delay, base * 2 ** (n - 1))
        return Decision(
            retry=True, retry_after=delay,
            retry_at=_dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(seconds=delay),
            failure_count=n, max_attempts=max_attempts,
            error_class="unknown", category="unknown", policy="local",
            explanation=(
                f"retry {n} of {max_attempts - 1} after {delay:g}s "
                f"(exponential from {base:g}s, at most {max_delay:g}s)"
            ),
        )

    return decide
