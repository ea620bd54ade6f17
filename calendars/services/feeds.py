"""Adding, changing and removing booking calendars. Every rule a feed must meet is checked here
and reported against the API's field names, all at once; a refused request writes nothing."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from calendars.fetch import url_problem
from calendars.models import MAX_BUFFER_MINUTES, CalendarFeed, Stay
from devices.models import Device, Workspace

NAME_MAX_LENGTH = CalendarFeed._meta.get_field("name").max_length
_FIELDS = (
    "name",
    "url",
    "devices",
    "early_check_in_minutes",
    "late_check_out_minutes",
    "blocked_dates_are_stays",
    "pin_from_phone",
)


def feed_check(
    *,
    workspace: Workspace,
    name,
    url,
    devices: list[Device],
    early_check_in_minutes=0,
    late_check_out_minutes=0,
) -> None:
    """Raise ValidationError naming every field that is wrong."""
    errors: dict[str, list[str]] = {}
    if not isinstance(name, str) or not name.strip():
        errors["name"] = ['give the calendar a name, e.g. "Airbnb".']
    elif len(name) > NAME_MAX_LENGTH:
        errors["name"] = [f"is {len(name)} characters long; at most {NAME_MAX_LENGTH} are allowed."]
    problem = url_problem(url)
    if problem:
        errors["url"] = [problem]
    if not devices:
        errors["device_ids"] = ["choose at least one door."]
    elif any(d.workspace_id != workspace.pk for d in devices):
        errors["device_ids"] = ["every door must belong to this workspace."]
    elif any(d.property_id is None for d in devices):
        errors["device_ids"] = ["every door must belong to a property, whose check-in times apply."]
    elif len({d.property_id for d in devices}) > 1:
        errors["device_ids"] = ["the doors must all belong to one property."]
    for field, value in (
        ("early_check_in_minutes", early_check_in_minutes),
        ("late_check_out_minutes", late_check_out_minutes),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_BUFFER_MINUTES:
            errors[field] = [f"must be a whole number of minutes from 0 to {MAX_BUFFER_MINUTES}."]
    if errors:
        raise ValidationError(errors)


def feed_create(
    *,
    workspace: Workspace,
    name: str,
    url: str,
    devices: list[Device],
    early_check_in_minutes: int = 0,
    late_check_out_minutes: int = 0,
    blocked_dates_are_stays: bool = False,
    pin_from_phone: bool = True,
    now: datetime | None = None,
) -> CalendarFeed:
    """A new feed, due for its first fetch at once."""
    now = now or timezone.now()
    devices = list({d.pk: d for d in devices}.values())
    feed_check(
        workspace=workspace,
        name=name,
        url=url,
        devices=devices,
        early_check_in_minutes=early_check_in_minutes,
        late_check_out_minutes=late_check_out_minutes,
    )
    with transaction.atomic():
        feed = CalendarFeed.objects.create(
            workspace=workspace,
            property_id=devices[0].property_id,
            name=name.strip(),
            url=url,
            early_check_in_minutes=early_check_in_minutes,
            late_check_out_minutes=late_check_out_minutes,
            blocked_dates_are_stays=blocked_dates_are_stays,
            pin_from_phone=pin_from_phone,
            created_at=now,
            updated_at=now,
            next_fetch_at=now,
        )
        feed.devices.set(devices)
    return feed


def feed_update(*, feed: CalendarFeed, now: datetime | None = None, **changes) -> CalendarFeed:
    """Change any of ``name``, ``url``, ``devices``, the buffers, ``blocked_dates_are_stays``,
    ``pin_from_phone``. The next fetch reads the whole calendar again (the conditional-request
    validators are dropped), so new buffers or rules reach every upcoming stay's codes. New
    doors apply to stays read from then on; existing stays keep their codes' doors."""
    unknown = set(changes) - set(_FIELDS)
    if unknown:
        raise TypeError(f"feed_update got unknown fields: {sorted(unknown)}")
    now = now or timezone.now()
    with transaction.atomic():
        current = CalendarFeed.objects.select_for_update().get(pk=feed.pk)
        devices = list({d.pk: d for d in changes.get("devices", current.devices.all())}.values())
        values = {f: changes.get(f, getattr(current, f)) for f in _FIELDS if f != "devices"}
        feed_check(
            workspace=current.workspace,
            name=values["name"],
            url=values["url"],
            devices=devices,
            early_check_in_minutes=values["early_check_in_minutes"],
            late_check_out_minutes=values["late_check_out_minutes"],
        )
        if devices[0].property_id != current.property_id:
            raise ValidationError({"device_ids": ["the doors must stay in the feed's property."]})
        for field, value in values.items():
            setattr(current, field, value.strip() if field == "name" else value)
        current.etag = current.last_modified = ""
        current.updated_at = current.next_fetch_at = now
        current.save()
        if "devices" in changes:
            current.devices.set(devices)
        return current


def feed_delete(*, feed: CalendarFeed) -> None:
    """Remove the feed and its record of stays. The codes it made stay as they are: they are
    real guests' codes, now managed like any other."""
    CalendarFeed.objects.filter(pk=feed.pk).delete()


def stay_pin_dates(*, stay: Stay, pinned: bool) -> Stay:
    """Pinned: the codes keep the dates they have (e.g. changed by hand) whatever the feed says
    next. Unpinned: the next fetch moves them to the feed's dates again."""
    Stay.objects.filter(pk=stay.pk).update(dates_pinned=pinned)
    stay.dates_pinned = pinned
    return stay
