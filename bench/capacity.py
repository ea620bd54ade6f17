"""The capacity statement in bench/RESULTS.md: what one machine carries, as arithmetic on the
numbers the benchmarks measured (bench/summary.json), with every assumption named here."""

# What one access code costs over its life. A booking integration creates it, changes it
# twice (a new name or dates), reads it back once and lists its lock's codes once.
API_CALLS_PER_CODE = {
    "access_codes/create": 1,
    "access_codes/update": 2,
    "access_codes/get": 1,
    "access_codes/list": 1,
}
# The scheduler programs the code, handles one change or pre-flight check, and removes it.
SWEEP_STEPS_PER_CODE = 3
# The lock reports about three events for it (set, removed, one more such as a first use).
LOCK_EVENTS_PER_CODE = 3
# A property has two doors; each door gets a new guest code every three days (back-to-back
# three-night stays, a full calendar).
DOORS_PER_PROPERTY = 2
DAYS_PER_CODE_PER_DOOR = 3
# The average day may use a tenth of the measured throughput: bookings arrive in bursts,
# check-outs make removals due at the same hour, and staff use the admin meanwhile.
HEADROOM = 10
SECONDS_PER_DAY = 86_400
# Every lock is compared with what Latchkey declares every 15 minutes (setup_schedules). That
# load is steady, not bursty: it takes its share of the day before the headroom is applied.
DRIFT_CHECKS_PER_DOOR_PER_DAY = 96


def _round(value: float) -> str:
    """A derived number to two significant figures: it is an estimate, not a count."""
    if value >= 100:
        digits = len(str(int(value))) - 2
        return f"{round(value, -digits):,.0f}"
    return f"{value:.2g}"


def _profile(summary: dict, backend: str) -> dict | None:
    load = summary.get(f"load/{backend}")
    sweep = summary.get(f"sweep/{backend}")
    webhooks = summary.get(f"webhooks/{backend}")
    if not (load and sweep and webhooks):
        return None
    largest = max(sweep["median_sweep_s"], key=int)
    api_s = sum(n / load["per_s"][route] for route, n in API_CALLS_PER_CODE.items())
    sweep_rate = sweep["due"] / sweep["median_sweep_s"][largest]
    sweep_s = SWEEP_STEPS_PER_CODE / sweep_rate
    webhook_s = (
        LOCK_EVENTS_PER_CODE / webhooks["receive_per_s"] + LOCK_EVENTS_PER_CODE / webhooks["process_per_s"]
    )
    total_s = api_s + sweep_s + webhook_s
    drift = summary.get(f"drift/{backend}")
    drift_s = DRIFT_CHECKS_PER_DOOR_PER_DAY / drift["locks_per_s"] if drift else 0.0
    # A day's machine time: each door's drift checks, plus its share of a code's work with headroom.
    doors = SECONDS_PER_DAY / (drift_s + total_s * HEADROOM / DAYS_PER_CODE_PER_DOOR)
    codes_per_day = doors / DAYS_PER_CODE_PER_DOOR
    return {
        "load": load,
        "largest": int(largest),
        "api_s": api_s,
        "sweep_rate": sweep_rate,
        "sweep_s": sweep_s,
        "webhooks": webhooks,
        "webhook_s": webhook_s,
        "total_s": total_s,
        "drift": drift,
        "drift_s": drift_s,
        "codes_per_day": codes_per_day,
        "doors": doors,
        "properties": doors / DOORS_PER_PROPERTY,
    }


def capacity_statement(summary: dict) -> str:
    profiles = {b: p for b in ("sqlite", "postgresql") if (p := _profile(summary, b))}
    if not profiles:
        return (
            "## Capacity of one machine\n\nNot computed: the sweep, webhook and load results are missing.\n\n"
        )
    names = {"sqlite": "SQLite (embedded profile)", "postgresql": "PostgreSQL (production profile)"}
    api_terms = " + ".join(f"{n} / `{route}` req/s" for route, n in API_CALLS_PER_CODE.items())
    rows = [
        ("API: " + api_terms, lambda p: f"{p['api_s'] * 1000:.1f} ms"),
        (
            f"Sweep: {SWEEP_STEPS_PER_CODE} / due codes per s (sweep table, largest portfolio)",
            lambda p: f"{SWEEP_STEPS_PER_CODE} / {p['sweep_rate']:,.0f} = {p['sweep_s'] * 1000:.2f} ms",
        ),
        (
            f"Lock events: {LOCK_EVENTS_PER_CODE} / stored per s + {LOCK_EVENTS_PER_CODE} / processed per s",
            lambda p: (
                f"{LOCK_EVENTS_PER_CODE} / {p['webhooks']['receive_per_s']:,.0f} + {LOCK_EVENTS_PER_CODE} / "
                f"{p['webhooks']['process_per_s']:,.0f} = {p['webhook_s'] * 1000:.1f} ms"
            ),
        ),
        ("**Machine time per code**", lambda p: f"**{p['total_s'] * 1000:.1f} ms**"),
        (
            f"Drift checks per door per day: {DRIFT_CHECKS_PER_DOOR_PER_DAY} / locks checked per s "
            "(drift table; steady, so no headroom)",
            lambda p: (
                f"{DRIFT_CHECKS_PER_DOOR_PER_DAY} / {p['drift']['locks_per_s']:,.0f} = {p['drift_s'] * 1000:.1f} ms"
                if p["drift"]
                else "not measured (0)"
            ),
        ),
        (
            f"Doors: {SECONDS_PER_DAY:,} s / (drift per door + time per code x headroom {HEADROOM} "
            f"/ {DAYS_PER_CODE_PER_DOOR}, one code per door every {DAYS_PER_CODE_PER_DOOR} days)",
            lambda p: f"**{_round(p['doors'])}**",
        ),
        (f"Codes per day: doors / {DAYS_PER_CODE_PER_DOOR}", lambda p: f"**{_round(p['codes_per_day'])}**"),
        (f"Properties: doors / {DOORS_PER_PROPERTY}", lambda p: f"**{_round(p['properties'])}**"),
    ]
    out = [
        "## Capacity of one machine\n\n",
        "Arithmetic on the measured numbers below, not a measurement. Assumptions: each access code "
        f"costs {', '.join(f'{n} {route}' for route, n in API_CALLS_PER_CODE.items())} (API), "
        f"{SWEEP_STEPS_PER_CODE} sweep steps (program, one change or pre-flight, remove) and "
        f"{LOCK_EVENTS_PER_CODE} lock events (webhooks in, each stored then processed); a property "
        f"has {DOORS_PER_PROPERTY} doors and each door gets a new code every {DAYS_PER_CODE_PER_DOOR} "
        f"days, and every door's lock is checked for drift {DRIFT_CHECKS_PER_DOOR_PER_DAY} times a day "
        "(every 15 minutes, a steady load that takes its share first); the average day uses "
        f"1/{HEADROOM} of the measured throughput for the rest (headroom for bursts, check-out hours "
        "and the admin). Each API rate was measured with the whole machine "
        "serving that route, so 1 / rate is machine time per request; the sweep and webhook rates "
        "are one process's, so counting them as whole-machine time overstates their cost.\n\n",
        "| per access code | " + " | ".join(names[b] for b in profiles) + " |\n",
        "|---|" + "---:|" * len(profiles) + "\n",
    ]
    for label, value in rows:
        out.append(f"| {label} | " + " | ".join(value(p) for p in profiles.values()) + " |\n")
    for backend, p in profiles.items():
        parts = {"the API": p["api_s"], "the sweep": p["sweep_s"], "lock events": p["webhook_s"]}
        largest = max(parts, key=parts.get)
        events_per_s = 1 / (1 / p["webhooks"]["receive_per_s"] + 1 / p["webhooks"]["process_per_s"])
        out.append(
            f"\nOn {backend}, the largest share of a code's machine time goes to {largest} "
            f"({parts[largest] / p['total_s']:.0%}; "
            + ", ".join(f"{name} {t / p['total_s']:.0%}" for name, t in parts.items() if name != largest)
            + "). Each part alone, at full speed and without headroom: the API carries "
            f"{_round(SECONDS_PER_DAY / p['api_s'])} codes' calls per day, the sweep "
            f"{_round(p['sweep_rate'] * SECONDS_PER_DAY)} steps per day, the webhooks "
            f"{_round(events_per_s * SECONDS_PER_DAY)} lock events per day (stored and processed)."
        )
        if p["drift"]:
            share = p["doors"] * p["drift_s"] / SECONDS_PER_DAY
            out.append(
                f" At {_round(p['doors'])} doors, drift checks take {share:.0%} of the machine's day; "
                f"alone they would keep up with {_round(p['drift']['locks_per_s'] * 900)} locks "
                "(one pass every 15 minutes)."
            )
    out.append("\n")
    workers = summary.get("workers/postgresql")
    if workers:
        rates = workers["per_s_by_clusters"]
        one, most = min(rates, key=int), max(rates, key=int)
        added = rates[most] - rates[one]
        out.append(
            f"\n**What a worker machine adds (production profile).** Measured: one `qcluster` process "
            f"programs a backlog at {rates[one]:,.0f} codes/s, {most} processes sharing it at "
            f"{rates[most]:,.0f} codes/s (worker scaling table), so the second adds {added:,.0f} codes/s, "
            f"{added / rates[one]:.0%} of the first. Here both processes share 2 cores with each other and "
            "with PostgreSQL and Redis, so a separate worker machine should add at least this much, "
            "unless PostgreSQL itself is the limit. In codes "
            f"(at {SWEEP_STEPS_PER_CODE} sweep steps each, headroom {HEADROOM}): "
            f"{added:,.0f} x {SECONDS_PER_DAY:,} / {SWEEP_STEPS_PER_CODE} / {HEADROOM} = "
            f"{_round(added * SECONDS_PER_DAY / SWEEP_STEPS_PER_CODE / HEADROOM)} codes per day per added "
            "worker. The schedule starts one sweep a minute; a second worker takes the next minute's "
            "sweep while a long one still runs, so it helps only once a backlog takes more than a "
            "minute. Worker machines add no API throughput: that grows with web (gunicorn) machines, "
            "which were not measured separately.\n"
        )
    return "".join(out) + "\n"
