from collections.abc import Buffer

from consentproxy.policy import TagOutcome

class Skipper:
    def __init__(
        self,
        interesting: tuple[bytes, ...],
        quiet: tuple[bytes, ...],
        keys: tuple[bytes, ...],
        text: tuple[bytes, ...],
        foreign: tuple[bytes, ...],
        svg_points: tuple[bytes, ...],
        math_points: tuple[bytes, ...],
        hosted: tuple[bytes, ...],
        urls: tuple[bytes, ...],
        element_bytes: int = 0,
        script_urls: tuple[bytes, ...] = (),
        remembered: tuple[bytes, ...] = (),
        tag_bytes: int = 0,
        mark_slot: bytes = b"",
        hosted_urls: tuple[tuple[bytes, ...], ...] | None = None,
    ) -> None: ...
    def script_data(self, buf: bytes, pos: int, sub: int, /) -> tuple[int, int, bool]: ...
    def skip(
        self,
        buf: bytes,
        pos: int,
        quiet_ok: int,
        settled: dict[bytes, bool] = ...,
        seen: set[str] = ...,
        elements: dict[bytes, dict[object, TagOutcome]] = ...,
        choice: object = ...,
        memo: dict[tuple[object, ...], TagOutcome] | None = ...,
        out: list[Buffer] = ...,
        mark: bytes = ...,
        blocked: list[tuple[str, str]] = ...,
        limit: int = ...,
        spans: bool = ...,
        endpoint: bytes = ...,
        /,
    ) -> int: ...

class Span:
    """A run of a page's bytes in the skip's output, not copied (a buffer)."""

    def __len__(self) -> int: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...

def end_tag(buf: bytes, name: bytes, pos: int, end: int, /) -> int: ...
def tag_span(buf: bytes, pos: int, /) -> tuple[int, int, int] | None: ...
def css_may_load(css: bytes, /) -> bool: ...
def find_ci(buf: bytes, needles: tuple[bytes, ...], pos: int, end: int, /) -> int: ...
