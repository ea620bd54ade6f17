"""The simulated month behind bench/readiness.py (issue 14), importable by a test.

A fleet of sandbox locks (every model, ``sandbox_fleet_fill``), guests booked at many lead times,
faults switched on and off on the locks through the API's simulate routes and the sandbox's
switches, and time moved on only through the scheduler's own ``now``: ``scheduler.sweep`` (what
``scheduler_tick --at`` calls) at every instant a code is due (on a 5-minute grid), the drift
check and the pool refill hourly (see ``DRIFT_EVERY`` for why less often than django-q2).
Routes and services run under time-machine at the same instant.

Whether a stay works is judged from the sandbox lock's memory at check-in (its PIN held,
confirmed, its window open, a keypad to type it on), never from Latchkey's status; what staff
were told is read from the review flag (``needs_review``) after every step. Everything random
comes from one seeded ``random.Random`` (the scheduler's retry jitter too), so a seed gives the
same month (PINs and ids aside).
"""

import itertools
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
ZONE = "America/New_York"  # the month crosses the US change to summer time (14 March 2027)
START = datetime(2027, 3, 1, 5, 0, tzinfo=UTC)
# How long before the stay's check-in a fault begins.
LEADS = [
    12 * DAY,
    8 * DAY,
    5 * DAY,
    4 * DAY,
    78 * HOUR,
    60 * HOUR,
    36 * HOUR,
    12 * HOUR,
    3 * HOUR,
    45 * MINUTE,
]

MODELS = ("keypad-deadbolt", "cloud-lock", "small-memory", "offline-lock", "no-keypad", "strict-pins")
ONLINE = tuple(m for m in MODELS if m != "offline-lock")


# Each fault: the models it can happen to, whether the lock tells Latchkey (a simulate route)
# or Latchkey finds it only by asking the lock, and whether asking reveals it at all before a
# code is sent (a lock that takes codes but never confirms them says nothing to a pre-flight).
@dataclass(frozen=True)
class FaultKind:
    name: str
    models: tuple
    reported: bool  # the lock reports it (simulate route): Latchkey knows at once
    probe_finds: bool = True  # a pre-flight check finds it (else only a code sent does)


FAULT_KINDS = [
    FaultKind("offline, reported", MODELS, reported=True),
    FaultKind("offline, not reported", MODELS, reported=False),
    FaultKind("hub down", ("cloud-lock", "no-keypad"), reported=True),
    FaultKind("slots full", ONLINE, reported=False),
    FaultKind("PIN refused", ONLINE, reported=False),
    FaultKind("codes never confirmed", ONLINE, reported=False, probe_finds=False),
    FaultKind("keypad missing", ("no-keypad",), reported=False),
    FaultKind("provider exception", MODELS, reported=False),
]
REMOVAL_FAULTS = ["removal refused", "offline at check-out"]
RAISING: set[str] = set()  # provider_device_ids whose maker's cloud raises on every call


@dataclass
class Stay:
    lock: object  # Device
    starts_at: datetime
    ends_at: datetime
    booked_at: datetime
    offline_pin: bool
    code: object = None  # AccessCode, once booked
    working: bool | None = None
    left_on_lock: bool | None = None


@dataclass
class Fault:
    kind: str
    lock: object
    starts_at: datetime
    ends_at: datetime
    reported: bool
    probe_finds: bool
    lead: timedelta | None  # before the target stay's check-in


@dataclass
class Flag:
    raised_at: datetime
    reason: str
    cause: str
    has_remedy: bool
    cleared_at: datetime | None = None


@dataclass
class Month:
    stays: list
    faults: list
    flags: dict = field(default_factory=lambda: defaultdict(list))  # code pk -> [Flag]
    pulls: list = field(default_factory=list)  # (code pk, at, own PIN working on the lock)
    failed_while_working: dict = field(default_factory=dict)  # code pk -> first instant
    sweeps: int = 0


def model_of(device) -> str:
    base = device.provider_device_id.removeprefix("sandbox-")
    return next(m for m in MODELS if base == m or base.startswith(m + "-"))


# --- Building the month -------------------------------------------------------------------------


def build_fleet(locks: int):
    from codes.services import backup_pool
    from devices.models import Property, Workspace
    from devices.services import api_key_create, sandbox_fleet_fill

    workspace = Workspace.objects.create(name="Readiness month", is_sandbox=True)
    place = Property.objects.create(workspace=workspace, name="Harbour flats", time_zone=ZONE)
    fleet = sandbox_fleet_fill(workspace=workspace, property=place, locks=locks)
    for device in fleet:
        if model_of(device) == "no-keypad":  # its accessory keypad is fitted, until a fault
            device.accessory_keypad_connected = True
            device.save(update_fields=["accessory_keypad_connected"])
        if device.supports_backup_access_code_pool:  # a pool that pulls by itself (mechanism 4)
            pool = backup_pool.backup_pool_enable(device=device, enabled=True, now=START)
            pool.auto_pull = True
            pool.save(update_fields=["auto_pull"])
    _, key = api_key_create(workspace=workspace, name="bench")
    return fleet, key


def plan_stays(fleet, *, days: int, rng: random.Random) -> list[Stay]:
    zone, stays = ZoneInfo(ZONE), []
    end = START + days * DAY
    for device in fleet:
        day = (START + DAY).astimezone(zone).date() + timedelta(days=rng.randint(0, 2))
        while True:
            nights = rng.choice([1, 2, 2, 3, 3, 4, 5, 7])
            starts = datetime.combine(day, time(16), zone).astimezone(UTC)
            ends = datetime.combine(day + timedelta(days=nights), time(11), zone).astimezone(UTC)
            if starts >= end:
                break
            lead = rng.choice([30, 20, 14, 10, 7, 5, 4, 3.5, 2, 1, 0.3]) * DAY
            booked = max(START, starts - lead)
            offline = model_of(device) == "offline-lock" and rng.random() < 0.5
            stays.append(Stay(device, starts, ends, booked, offline))
            day = day + timedelta(days=nights + rng.choice([0, 0, 1, 2]))
    return stays


def plan_faults(stays: list[Stay], *, count: int, rng: random.Random, lasting: float = 0.65) -> list[Fault]:
    """``count`` faults, each aimed at one stay's check-in (or check-out), starting at one of
    ``LEADS`` before it; a share ``lasting`` of them last past check-in, the others clear
    half-way to it. A lock has one fault
    at a time, so each stay's trouble has one cause."""
    busy: dict = defaultdict(list)
    faults: list[Fault] = []
    for _ in range(count * 20):
        if len(faults) >= count:
            break
        stay = rng.choice(stays)
        model = model_of(stay.lock)
        if rng.random() < 0.15:  # at check-out: the code must come off
            kind, lead = rng.choice(REMOVAL_FAULTS), None
            starts = stay.ends_at - rng.choice([0, 1, 4]) * HOUR
            ends = stay.ends_at + rng.choice([0.5, 3, 12, 30]) * HOUR
            reported, probe_finds = False, True
        else:
            kinds = [k for k in FAULT_KINDS if model in k.models]
            if stay.offline_pin:
                kinds = [k for k in kinds if k.name.startswith("offline")]
            chosen, lead = rng.choice(kinds), rng.choice(LEADS)
            kind, reported, probe_finds = chosen.name, chosen.reported, chosen.probe_finds
            starts = stay.starts_at - lead
            ends = stay.starts_at + 6 * HOUR if rng.random() < lasting else starts + lead / 2
        if starts < START or any(s < ends + HOUR and starts < e + HOUR for s, e in busy[stay.lock.pk]):
            continue
        busy[stay.lock.pk].append((starts, ends))
        faults.append(Fault(kind, stay.lock, starts, ends, reported, probe_finds, lead))
    return faults


# --- Faults on the locks --------------------------------------------------------------------------


class Injector:
    """Switches a fault on or off: the reported ones through the API's simulate routes (the
    lock tells Latchkey), the others on the sandbox lock alone (Latchkey finds out by asking)."""

    ROUTES = {
        "offline, reported": ("devices/simulate/disconnect", "devices/simulate/connect"),
        "hub down": ("devices/simulate/disconnect_from_hub", "devices/simulate/connect_to_hub"),
    }
    SWITCHES = {
        "offline, not reported": "is_offline",
        "offline at check-out": "is_offline",
        "slots full": "slots_full",
        "PIN refused": "rejects_pin_format",
        "codes never confirmed": "delays_programming",
        "removal refused": "fails_removal",
    }

    def __init__(self, key: str) -> None:
        from django.test import Client

        self.client, self.key = Client(HTTP_HOST="localhost"), key

    def apply(self, fault: Fault, *, on: bool) -> None:
        from devices.services import sandbox_lock_switch

        device = fault.lock
        if fault.kind in self.ROUTES:
            route = self.ROUTES[fault.kind][0 if on else 1]
            answer = self.client.post(
                f"/api/{route}",
                {"device_id": str(device.pk)},
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {self.key}",
            )
            if answer.status_code != 200:
                raise RuntimeError(f"{route} answered {answer.status_code}: {answer.content[:200]!r}")
        elif fault.kind in self.SWITCHES:
            sandbox_lock_switch(device=device, **{self.SWITCHES[fault.kind]: on})
        elif fault.kind == "keypad missing":  # the accessory keypad is unplugged: the lock's own data
            device.accessory_keypad_connected = not on
            device.save(update_fields=["accessory_keypad_connected"])
        elif fault.kind == "provider exception":
            (RAISING.add if on else RAISING.discard)(device.provider_device_id)
        else:
            raise ValueError(f"unknown fault {fault.kind!r}")


def raising_provider():
    """Wrap the sandbox provider's calls so a lock in ``RAISING`` raises, as a maker's cloud
    answering 500 does. Returns a function that undoes it."""
    from devices.providers.sandbox.provider import SandboxProvider

    originals = {}
    for name in ("probe", "set_code", "update_code", "remove_code", "list_codes", "create_offline_code"):
        original = getattr(SandboxProvider, name)
        originals[name] = original

        def call(self, provider_device_id, *args, _original=original, **kwargs):
            if provider_device_id in RAISING:
                raise RuntimeError("The lock maker's cloud answered 500 Internal Server Error.")
            return _original(self, provider_device_id, *args, **kwargs)

        setattr(SandboxProvider, name, call)

    def undo() -> None:
        for name, original in originals.items():
            setattr(SandboxProvider, name, original)
        RAISING.clear()

    return undo


# --- The lock's truth -------------------------------------------------------------------------------


def works_on_lock(code, device, at: datetime, held_codes: list) -> bool:
    """Would the guest's PIN open the door at ``at``, by the lock's own memory? A pulled
    backup's PIN counts as the guest's (staff send it)."""
    from devices.providers.sandbox import offline

    device.refresh_from_db(fields=["accessory_keypad_connected"])
    if not device.has_keypad:
        return False
    if code.is_offline_access_code:
        return bool(code.code) and offline.lock_accepts(
            device.offline_code_secret, code.code, at, daily_rounding=True, one_time=code.is_one_time_use
        )
    pins = {code.code}
    if code.pulled_backup_access_code_id:
        pins.add(code.pulled_backup_access_code.code)
    return any(
        held.code in pins
        and held.confirmed_at is not None
        and held.confirmed_at <= at
        and (held.starts_at is None or held.starts_at <= at < held.ends_at)
        for held in held_codes
    )


def held_on(device) -> list:
    from devices.providers.sandbox.models import HeldCodeOrigin, SandboxHeldCode

    return list(SandboxHeldCode.objects.filter(lock__device=device, origin=HeldCodeOrigin.LATCHKEY))


# --- Living through the month ----------------------------------------------------------------------

# django-q2 runs the drift check every 15 minutes and the pool refill every 5; here they run
# hourly, to keep the month to minutes: nothing in it changes a lock's memory behind
# Latchkey's back (what the drift check is for), and a refill only matters after a pull.
DRIFT_EVERY, POOLS_EVERY, SAMPLE_EVERY = HOUR, HOUR, HOUR
# django-q2 sweeps every minute; here a code due is swept at the next 5-minute mark, so codes
# due close together share a sweep (a code is at most 5 minutes late; its lead times are hours).
SWEEP_GRID = 5 * MINUTE
CHECK_OUT_GRACE = HOUR  # a code still on its lock this long after ends_at was left there


def run_month(*, locks: int, days: int, faults: int, seed: int, lasting: float = 0.65) -> Month:
    """Build the fleet, book the stays, inject the faults and live through ``days`` days."""
    import time_machine

    rng = random.Random(seed)
    fleet, key = build_fleet(locks)
    stays = plan_stays(fleet, days=days, rng=rng)
    month = Month(stays, plan_faults(stays, count=faults, rng=rng, lasting=lasting))
    from codes import lifecycle

    undo, jitter = raising_provider(), lifecycle._jitter_rng
    lifecycle._jitter_rng = random.Random(seed)  # retry times too follow the seed
    try:
        with time_machine.travel(START, tick=False) as clock:
            _live(month, Injector(key), clock, end=START + (days + 2) * DAY, rng=rng)
    finally:
        undo()
        lifecycle._jitter_rng = jitter
    return month


def _live(month: Month, injector: Injector, clock, *, end: datetime, rng: random.Random) -> None:
    import heapq

    from codes import scheduler
    from codes.services import backup_pool

    events: list = []  # (when, order, phase, what, subject); phase 0 before the sweep, 1 after
    order = itertools.count()
    for stay in month.stays:
        heapq.heappush(events, (stay.booked_at, next(order), 0, "book", stay))
        heapq.heappush(events, (stay.starts_at, next(order), 1, "check-in", stay))
        heapq.heappush(events, (stay.ends_at + CHECK_OUT_GRACE, next(order), 1, "check-out", stay))
    for fault in month.faults:
        heapq.heappush(events, (fault.starts_at, next(order), 0, "on", fault))
        heapq.heappush(events, (fault.ends_at, next(order), 0, "off", fault))
    observer = Observer(month)
    next_drift = next_pools = next_sample = last = START
    while True:
        ticks = min(next_drift, next_pools, next_sample, events[0][0] if events else end)
        due = _next_due(ticks)
        # A code still due after the last sweep (its lease, or its retry, is up) waits for the next mark.
        now = min(ticks, _on_grid(max(due, last + timedelta(seconds=1)))) if due else ticks
        if now > end:
            break
        clock.move_to(now)
        last, after = now, []
        while events and events[0][0] <= now:
            _, _, phase, what, subject = heapq.heappop(events)
            if phase:
                after.append((what, subject))
            elif what == "book":
                _book(subject, now=now, rng=rng)
            else:
                injector.apply(subject, on=what == "on")
        if now >= next_drift:
            scheduler.check_drift(now=now)
            next_drift += DRIFT_EVERY
        if now >= next_pools:
            backup_pool.maintain_pools(now=now)
            next_pools += POOLS_EVERY
        scheduler.sweep(now=now)
        month.sweeps += 1
        observer.look(now)
        if now >= next_sample:
            observer.sample_failed_while_working(now)
            next_sample += SAMPLE_EVERY
        for what, stay in after:
            observer.judge(what, stay, now)


def _on_grid(moment: datetime) -> datetime:
    """The first sweep of the grid at or after ``moment``."""
    step = SWEEP_GRID.total_seconds()
    return datetime.fromtimestamp(-(-moment.timestamp() // step) * step, tz=UTC)


def _next_due(before: datetime) -> datetime | None:
    """The first instant a code is due, up to ``before``; a leased code comes due again when its
    lease lapses, and one still due after a sweep is taken at the next minute's sweep."""
    from codes.models import AccessCode

    rows = AccessCode.objects.filter(next_attempt_at__lte=before).values_list(
        "next_attempt_at", "claimed_until"
    )
    times = [max(due, lease or due) for due, lease in rows]
    return min(times, default=None)


def _book(stay: Stay, *, now: datetime, rng: random.Random) -> None:
    from codes.services.access_codes import access_code_create
    from codes.services.checks import AccessCodeRequest

    stay.code = access_code_create(
        device=stay.lock,
        request=AccessCodeRequest(
            name=f"Guest {stay.starts_at:%d%H}{rng.randint(10, 99)}",
            starts_at=stay.starts_at,
            ends_at=stay.ends_at,
            is_offline_access_code=stay.offline_pin,
            use_backup_access_code_pool=stay.lock.supports_backup_access_code_pool,
        ),
        now=now,
        rng=rng,
    )


class Observer:
    """What staff were told, read after every step, and what the locks held."""

    def __init__(self, month: Month) -> None:
        self.month = month
        self.open: dict = {}  # code pk -> its standing Flag
        self.pulled: set = set()

    def look(self, now: datetime) -> None:
        from codes.models import AccessCode

        guests = AccessCode.objects.filter(is_backup=False)
        flagged = dict(guests.filter(needs_review=True).values_list("pk", "review_reason"))
        for pk in list(self.open):
            if pk not in flagged:
                self.open.pop(pk).cleared_at = now
        for pk, reason in flagged.items():
            if pk not in self.open:
                self.open[pk] = self._flag(pk, reason, now)
                self.month.flags[pk].append(self.open[pk])
        pulled = set(guests.filter(pulled_backup_access_code__isnull=False).values_list("pk", flat=True))
        for code in guests.filter(pk__in=pulled - self.pulled).select_related("device"):
            self.pulled.add(code.pk)
            own = AccessCode(pk=code.pk, code=code.code, is_offline_access_code=code.is_offline_access_code)
            at = max(now, code.starts_at)
            self.month.pulls.append((code.pk, now, works_on_lock(own, code.device, at, held_on(code.device))))

    def _flag(self, pk, reason: str, now: datetime) -> Flag:
        from codes.models import AccessCode
        from codes.selectors import access_code_issues, review_problems

        code = AccessCode.objects.select_related("device", "pulled_backup_access_code").get(pk=pk)
        problems = review_problems(code)
        cause = "not ready"
        if code.pulled_backup_access_code_id and reason.startswith("Backup code pulled"):
            cause = "backup pulled"
        for issue in access_code_issues(code, now=now):
            if reason == f"{issue.title} What to do: {issue.remedy}":
                cause = issue.code + (" (the lock's)" if issue.inherited else "")
                break
        return Flag(now, reason, cause, has_remedy=any(p.remedy for p in problems))

    def sample_failed_while_working(self, now: datetime) -> None:
        """Mechanism 5: a code shown Failed while its own PIN opens the door (or is loaded to)."""
        from codes.models import AccessCode
        from codes.pages import Readiness, readiness
        from codes.selectors import with_shown_issues

        live = AccessCode.objects.filter(
            pk__in=[s.code.pk for s in self.month.stays if s.code is not None and s.ends_at > now],
            deleted_at__isnull=True,
        ).select_related("device")
        for code in with_shown_issues(list(live)):
            if code.pk in self.month.failed_while_working or readiness(code) is not Readiness.FAILED:
                continue
            at = max(now, code.starts_at)
            own = AccessCode(pk=code.pk, code=code.code, is_offline_access_code=code.is_offline_access_code)
            if code.code and works_on_lock(own, code.device, at, held_on(code.device)):
                causes = sorted({i.code for i in code.shown_issues if i.weight.name == "BLOCKS"})
                self.month.failed_while_working[code.pk] = (now, causes)

    def judge(self, what: str, stay: Stay, now: datetime) -> None:
        from codes.models import AccessCode

        code = AccessCode.objects.select_related("pulled_backup_access_code").get(pk=stay.code.pk)
        stay.code = code
        held = held_on(stay.lock)
        if what == "check-in":
            stay.working = works_on_lock(code, stay.lock, now, held)
        else:
            stay.left_on_lock = any(
                h.provider_code_id == code.provider_code_id if code.provider_code_id else h.code == code.code
                for h in held
            )


# --- What the month shows -----------------------------------------------------------------------------


@dataclass
class Failing:
    stay: Stay
    fault: Fault | None
    could_flag_72h: bool
    first_flag: Flag | None  # the first flag with a remedy raised by check-in

    @property
    def flagged_72h(self) -> bool:
        return self.first_flag is not None and self.first_flag.raised_at <= self.stay.starts_at - 72 * HOUR

    @property
    def silent(self) -> bool:
        return self.first_flag is None


def analyse(month: Month) -> dict:
    """The month's numbers: each judged from the locks' memory and the flags as they stood."""
    from codes import lifecycle
    from devices.providers.sandbox.models import SandboxCommand

    sends = defaultdict(list)  # lock pk -> instants Latchkey sent it a code
    for lock_id, sent_at in SandboxCommand.objects.filter(action__in=["set", "update"]).values_list(
        "lock_id", "sent_at"
    ):
        sends[lock_id].append(sent_at)
    interval = lifecycle.preflight_interval()

    def knowable_at(fault: Fault) -> datetime | None:
        """When Latchkey could know: at once if the lock reports it; by the next pre-flight
        check if asking the lock shows it; at the first code sent otherwise."""
        if fault.reported:
            return fault.starts_at
        if fault.probe_finds:
            return fault.starts_at + interval
        return min((t for t in sends[fault.lock.pk] if fault.starts_at <= t < fault.ends_at), default=None)

    stays = [s for s in month.stays if s.working is not None]
    failing = []
    for stay in stays:
        if stay.working:
            continue
        on_lock = [f for f in month.faults if f.lock.pk == stay.lock.pk]  # a check-out's fault too
        during = [f for f in on_lock if f.starts_at <= stay.starts_at < f.ends_at + DAY]
        fault = min(during, key=lambda f: abs(f.ends_at - stay.starts_at), default=None)
        deadline = stay.starts_at - 72 * HOUR
        known = knowable_at(fault) if fault else None
        could = stay.booked_at <= deadline and known is not None and known <= deadline
        flags = [
            f for f in month.flags.get(stay.code.pk, []) if f.has_remedy and f.raised_at <= stay.starts_at
        ]
        failing.append(Failing(stay, fault, could, flags[0] if flags else None))

    false_alarms = defaultdict(int)
    for stay in month.stays:
        if stay.code is None:
            continue
        for flag in month.flags.get(stay.code.pk, []):
            active = [
                f
                for f in month.faults
                if f.lock.pk == stay.lock.pk and f.starts_at <= flag.raised_at <= f.ends_at
            ]
            if not active:
                false_alarms[flag.cause] += 1

    left = []
    removals = defaultdict(list)
    for pid, sent_at in SandboxCommand.objects.filter(action="remove", result="confirmed").values_list(
        "provider_code_id", "sent_at"
    ):
        removals[pid].append(sent_at)
    for stay in month.stays:
        if not stay.left_on_lock:
            continue
        removed = min((t for t in removals[stay.code.provider_code_id] if t >= stay.ends_at), default=None)
        until = removed or datetime.max.replace(tzinfo=UTC)
        flagged = any(
            f.raised_at <= until and (f.cleared_at is None or f.cleared_at > stay.ends_at)
            for f in month.flags.get(stay.code.pk, [])
        )
        left.append((stay, removed, flagged))

    return {
        "stays": len(stays),
        "working": sum(1 for s in stays if s.working),
        "failing": failing,
        "could_72h": [f for f in failing if f.could_flag_72h],
        "silent": [f for f in failing if f.silent],
        "false_alarms": dict(false_alarms),
        "mechanism_4": [p for p in month.pulls if p[2]],
        "mechanism_5": month.failed_while_working,
        "left": left,
        "pulls": month.pulls,
    }
