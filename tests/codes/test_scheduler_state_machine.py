"""Random lives of codes on sandbox locks (creates, updates, deletes, faults switched on and off,
time passing), checking after every step what the scheduler promises:

- a code is on its lock exactly when it should be, once the lock has been healthy long enough
  for retries to catch up;
- nothing stays on a reachable lock after its code ends or is deleted;
- no code is ever on its lock twice;
- a fault present from 72 hours before a guest's arrival has the code flagged for review by
  then, with the remedy in the reason.
"""

import contextlib
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from codes import lifecycle
from codes.models import AccessCode, AccessCodeStatus, Event
from codes.services.access_codes import access_code_create, access_code_delete, access_code_update
from codes.services.checks import AccessCodeRequest
from devices.models import Device, DeviceIssue, SandboxLock
from devices.providers.sandbox.models import SandboxCommand, SandboxHeldCode
from devices.services import sandbox_fleet_create, workspace_get_or_create
from tests.codes.clock import run_until
from tests.conftest import NOW

HOUR = timedelta(hours=1)
# Retries back off to at most 30 minutes, so 31 quiet minutes let every retry land.
SETTLE = timedelta(minutes=31)
LOCKS = ["sandbox-keypad-deadbolt", "sandbox-cloud-lock"]  # with and without native scheduling
FAULTS = ["is_offline", "fails_removal"]
PINS = ["482193", "739154", "618374", "295837"]  # few, so PIN conflicts happen


class CodeLives(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = NOW
        # When each lock's faults last changed, and since when it has been offline.
        self.fault_changed_at: dict[str, object] = {}
        self.offline_since: dict[str, object] = {}

    @initialize()
    def reset(self) -> None:
        for model in (Event, AccessCode, SandboxHeldCode, SandboxCommand, DeviceIssue):
            model.objects.all().delete()
        SandboxLock.objects.update(is_offline=False, fails_removal=False, code_serial=0)
        self.devices = {d.provider_device_id: d for d in Device.objects.filter(provider_device_id__in=LOCKS)}

    # --- What happens ---------------------------------------------------------------------

    @rule(
        lock=st.sampled_from(LOCKS),
        pin=st.sampled_from(PINS),
        ongoing=st.booleans(),
        # Often just past the 72-hour review lead, so the flag has something to prove.
        arrive_in_hours=st.one_of(st.integers(1, 300), st.integers(73, 110)),
        stay_hours=st.integers(1, 96),
    )
    def create(self, lock, pin, ongoing, arrive_in_hours, stay_hours) -> None:
        window = {}
        if not ongoing:
            starts = self.now + arrive_in_hours * HOUR
            window = {"starts_at": starts, "ends_at": starts + stay_hours * HOUR}
        # A PIN conflict is a refusal, and refusals write nothing.
        with contextlib.suppress(ValidationError):
            access_code_create(
                device=self.devices[lock],
                request=AccessCodeRequest(code=pin, name="Guest", **window),
                now=self.now,
            )
        self.settle()

    @rule(lock=st.sampled_from(LOCKS), pin=st.sampled_from(PINS), arrive_in_hours=st.integers(73, 110))
    def book_while_the_lock_is_down(self, lock, pin, arrive_in_hours) -> None:
        """A booking arriving while the lock is offline: the case the 72-hour promise is for."""
        self.switch_fault(lock, "is_offline", True)
        self.create(lock, pin, False, arrive_in_hours, 48)

    @rule(data=st.data(), pin=st.sampled_from(PINS))
    def update(self, data, pin) -> None:
        codes = list(AccessCode.objects.live().filter(is_managed=True).order_by("created_at"))
        if not codes:
            return
        code = data.draw(st.sampled_from(codes))
        with contextlib.suppress(ValidationError):
            access_code_update(access_code=code, code=pin, now=self.now)
        self.settle()

    @rule(data=st.data())
    def delete(self, data) -> None:
        codes = list(AccessCode.objects.live().order_by("created_at"))
        if not codes:
            return
        access_code_delete(access_code=data.draw(st.sampled_from(codes)), now=self.now)
        self.settle()

    @rule(lock=st.sampled_from(LOCKS), fault=st.sampled_from(FAULTS), on=st.booleans())
    def switch_fault(self, lock, fault, on) -> None:
        SandboxLock.objects.filter(device=self.devices[lock]).update(**{fault: on})
        self.fault_changed_at[lock] = self.now
        if fault == "is_offline":
            if on:
                self.offline_since.setdefault(lock, self.now)
            else:
                self.offline_since.pop(lock, None)
        self.settle()

    @rule(hours=st.integers(0, 48), minutes=st.integers(0, 59))
    def time_passes(self, hours, minutes) -> None:
        self.now += timedelta(hours=hours, minutes=minutes)
        self.settle()

    def settle(self) -> None:
        """The minute schedule keeps sweeping: everything due by now has been done."""
        run_until(self.now)

    # --- What must hold -------------------------------------------------------------------

    def healthy(self, lock: str) -> bool:
        state = SandboxLock.objects.get(device=self.devices[lock])
        quiet = self.now - self.fault_changed_at.get(lock, NOW - SETTLE) >= SETTLE
        return quiet and not (state.is_offline or state.fails_removal)

    @invariant()
    def no_code_is_on_its_lock_twice(self) -> None:
        held = list(SandboxHeldCode.objects.values_list("provider_code_id", flat=True))
        owners = list(AccessCode.objects.filter(provider_code_id__in=held).values_list("pk", flat=True))
        assert len(owners) == len(set(owners))

    @invariant()
    def a_healthy_lock_holds_exactly_what_it_should(self) -> None:
        for lock, device in self.devices.items():
            if not self.healthy(lock):
                continue
            expected = set()
            for code in AccessCode.objects.filter(device=device, deleted_at__isnull=True, is_managed=True):
                if code.starts_at is None:
                    expected.add(code.code)
                    continue
                lead = lifecycle.advance() if device.has_native_scheduling else lifecycle.just_in_time()
                if code.starts_at - lead <= self.now < code.ends_at:
                    expected.add(code.code)
            held = set(SandboxHeldCode.objects.filter(lock__device=device).values_list("code", flat=True))
            assert held == expected, f"{lock} at {self.now}: holds {held}, should hold {expected}"

    @invariant()
    def nothing_stays_on_a_reachable_lock_after_it_ends(self) -> None:
        for lock, device in self.devices.items():
            if not self.healthy(lock):
                continue
            for held in SandboxHeldCode.objects.filter(lock__device=device):
                code = AccessCode.objects.filter(provider_code_id=held.provider_code_id).first()
                assert code is not None
                assert code.deleted_at is None and (code.ends_at is None or code.ends_at > self.now)

    @invariant()
    def a_lasting_fault_is_flagged_72_hours_ahead_with_its_remedy(self) -> None:
        for lock, since in self.offline_since.items():
            for code in AccessCode.objects.filter(
                device=self.devices[lock], deleted_at__isnull=True, starts_at__isnull=False, is_managed=True
            ):
                deadline = code.starts_at - lifecycle.review_lead()
                ready = code.status == AccessCodeStatus.SET or code.is_scheduled_on_device
                if since <= deadline <= self.now < code.starts_at and not ready:
                    assert code.needs_review, f"{code} not flagged by {deadline}"
                    assert "What to do:" in code.review_reason


@pytest.mark.django_db
def test_code_lives_keep_the_schedulers_promises():
    workspace = workspace_get_or_create(name="Sandbox", is_sandbox=True)
    sandbox_fleet_create(workspace=workspace)
    with time_machine.travel(NOW, tick=False):
        run_state_machine_as_test(
            CodeLives,
            settings=settings(
                max_examples=25,
                stateful_step_count=12,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
