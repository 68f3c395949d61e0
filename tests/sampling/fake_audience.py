"""A stand-in for analytics' audience functions (the interface in sampling/audience.py), fed by tests."""

ATTENDEES: dict[int | None, set[str]] = {}
CLICKERS: dict[int | None, set[str]] = {}


def audience_attendees(*, series_id):
    return set(ATTENDEES.get(series_id, set())) | (
        set().union(*ATTENDEES.values()) if series_id is None and ATTENDEES else set()
    )


def audience_drop_clickers(*, series_id):
    return set(CLICKERS.get(series_id, set())) | (
        set().union(*CLICKERS.values()) if series_id is None and CLICKERS else set()
    )
