"""Back-office date/time entry in a named IANA zone (docs/sessions-and-times.md).

Staff type a local date and an optional local time; the form says which zone they are typing in
and turns them into an aware datetime (stored UTC). Where the time is optional, an empty time
means the start of the day (`valid_from`-like fields) or the end of the day (`valid_until`-like
fields: 23:59:59.999999 local, so "valid until 1 Dec" covers all of 1 Dec in that zone).

Wall-clock rule (the same as series and pop-up slots): a local time inside a spring-forward gap
is shifted forward by the gap length, a repeated time (fall back) takes the first occurrence
(fold=0), which is what attaching a zoneinfo with fold=0 and normalising through UTC does.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django import forms
from django.contrib.admin.widgets import AdminDateWidget

START_OF_DAY = dt.time.min
END_OF_DAY = dt.time.max  # 23:59:59.999999


def local_to_utc(day: dt.date, time_of_day: dt.time, zone: str) -> dt.datetime:
    """The aware UTC instant of local `day` + `time_of_day` in IANA `zone` (gap → forward, repeat → first)."""
    local = dt.datetime.combine(day, time_of_day).replace(tzinfo=zoneinfo.ZoneInfo(zone), fold=0)
    return local.astimezone(dt.UTC)


def end_of_local_day(day: dt.date, zone: str) -> dt.datetime:
    """23:59:59.999999 of local `day` in `zone`, as aware UTC (a date-only "valid until")."""
    return local_to_utc(day, END_OF_DAY, zone)


class LocalDateTimeWidget(forms.MultiWidget):
    """A date picker and a plain time box (no admin "Midnight" shortcut), showing values in `zone`."""

    def __init__(self, *, zone: str, time_placeholder: str = "HH:MM", attrs=None):
        self.zone = zone
        widgets = [AdminDateWidget(), forms.TimeInput(attrs={"placeholder": time_placeholder, "size": 10})]
        super().__init__(widgets, attrs)

    def decompress(self, value):
        if isinstance(value, dt.datetime):
            local = value.astimezone(zoneinfo.ZoneInfo(self.zone)) if value.tzinfo else value
            shown_time = None if local.time() == END_OF_DAY else local.time().replace(microsecond=0)
            return [local.date(), shown_time]
        return [None, None]


class LocalDateTimeField(forms.MultiValueField):
    """Local date + optional local time in `zone` → aware UTC datetime.

    `empty_time`: the time an empty time box means (START_OF_DAY or END_OF_DAY). The zone can be
    changed after construction with set_zone() (e.g. a pop-up slot's form, once the pop-up is known).
    """

    def __init__(self, *, zone: str, empty_time: dt.time = START_OF_DAY, **kwargs):
        self.zone = zone
        self.empty_time = empty_time
        placeholder = "empty = end of day" if empty_time == END_OF_DAY else "empty = 00:00"
        fields = (forms.DateField(), forms.TimeField(required=False))
        kwargs.setdefault("widget", LocalDateTimeWidget(zone=zone, time_placeholder=placeholder))
        super().__init__(fields, require_all_fields=False, **kwargs)

    def set_zone(self, zone: str) -> None:
        self.zone = zone
        self.widget.zone = zone

    def compress(self, data_list):
        if not data_list or data_list[0] in (None, ""):
            if self.required:
                raise forms.ValidationError(self.error_messages["required"], code="required")
            return None
        day, time_of_day = data_list[0], data_list[1] if len(data_list) > 1 else None
        return local_to_utc(day, time_of_day or self.empty_time, self.zone)
