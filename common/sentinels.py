"""The one "not given" marker, for keyword arguments where None is a meaningful value (a code's
``starts_at=None`` makes it ongoing; leaving ``starts_at`` out keeps what it was)."""


class _NotGiven:
    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN = _NotGiven()
