"""Every environment variable Latchkey reads, read once, here.

Settings import these names; nothing else in the project touches ``os.environ``.
An integration switches on because its variable is set (REDIS_URL, DATABASE_URL).
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A developer's .env file, if present; real deployments set the environment directly. Tests that
# probe settings turn it off so a developer's own .env cannot change what they see.
if env.bool("LATCHKEY_READ_DOTENV", default=True):
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG: bool = env.bool("DEBUG", default=False)
SECRET_KEY: str = env.str("SECRET_KEY", default="")
ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Empty means the embedded default: SQLite in var/.
DATABASE_URL: str = env.str("DATABASE_URL", default="")
# Empty means django-q2 uses the ORM broker on the default database.
REDIS_URL: str = env.str("REDIS_URL", default="")

VAR_DIR: Path = Path(env.str("LATCHKEY_VAR_DIR", default="") or BASE_DIR / "var")
LOG_LEVEL: str = env.str("LOG_LEVEL", default="INFO")

# Encrypts lock-provider credentials at rest. Empty: derived from SECRET_KEY, so changing
# SECRET_KEY then makes stored credentials unreadable; set this to keep them independent.
CREDENTIALS_KEY: str = env.str("CREDENTIALS_KEY", default="")

# The scheduler's timing (see codes/lifecycle.py and codes/scheduler.py).
ADVANCE_PROGRAMMING_DAYS: int = env.int("ADVANCE_PROGRAMMING_DAYS", default=9)
REVIEW_LEAD_HOURS: int = env.int("REVIEW_LEAD_HOURS", default=72)
JUST_IN_TIME_MINUTES: int = env.int("JUST_IN_TIME_MINUTES", default=60)
PREFLIGHT_INTERVAL_HOURS: int = env.int("PREFLIGHT_INTERVAL_HOURS", default=6)
SCHEDULER_BATCH_SIZE: int = env.int("SCHEDULER_BATCH_SIZE", default=500)
SCHEDULER_LEASE_SECONDS: int = env.int("SCHEDULER_LEASE_SECONDS", default=300)

# Worker processes django-q2 starts on this machine.
Q_WORKERS: int = env.int("Q_WORKERS", default=2)
# `run_workers`: how long a stopping cluster may take to finish its tasks in hand before it is
# killed (its claimed codes then wait for their leases). Keep it below the supervisor's own stop
# timeout (systemd's default is 90 s).
WORKER_STOP_SECONDS: float = env.float("WORKER_STOP_SECONDS", default=60.0)

# HTTPS. On by default whenever DEBUG is off, so a production deployment is secure unless it
# says otherwise (and `check --deploy` passes); local runs (DEBUG=1) serve plain HTTP.
_SECURE_BY_DEFAULT = not DEBUG
SECURE_SSL_REDIRECT: bool = env.bool("SECURE_SSL_REDIRECT", default=_SECURE_BY_DEFAULT)
SESSION_COOKIE_SECURE: bool = env.bool("SESSION_COOKIE_SECURE", default=_SECURE_BY_DEFAULT)
CSRF_COOKIE_SECURE: bool = env.bool("CSRF_COOKIE_SECURE", default=_SECURE_BY_DEFAULT)
# A year, the HSTS preload list's minimum. Browsers remember it: set 0 (or a short time) until
# the site is sure to stay on HTTPS.
SECURE_HSTS_SECONDS: int = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if _SECURE_BY_DEFAULT else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS: bool = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=_SECURE_BY_DEFAULT)
SECURE_HSTS_PRELOAD: bool = env.bool("SECURE_HSTS_PRELOAD", default=_SECURE_BY_DEFAULT)
# Only behind a proxy that sets X-Forwarded-Proto itself; otherwise a client could claim HTTPS.
TRUST_X_FORWARDED_PROTO: bool = env.bool("TRUST_X_FORWARDED_PROTO", default=False)
# Only behind a proxy that appends the client's address to X-Forwarded-For; otherwise a client
# could name any address and escape the login lockout.
TRUST_X_FORWARDED_FOR: bool = env.bool("TRUST_X_FORWARDED_FOR", default=False)
# Login throttling (django-axes): this many failed logins for one username from one address
# lock that pair out for LOGIN_COOLOFF_MINUTES.
LOGIN_FAILURE_LIMIT: int = env.int("LOGIN_FAILURE_LIMIT", default=10)
LOGIN_COOLOFF_MINUTES: int = env.int("LOGIN_COOLOFF_MINUTES", default=15)

# Requests Latchkey makes of its own (webhook deliveries, booking calendars): URLs that resolve
# to private, loopback or link-local addresses are refused unless this is set (tests and local
# development set it). WEBHOOK_ALLOW_PRIVATE_URLS is its older name, still read when it is unset.
OUTBOUND_ALLOW_PRIVATE_URLS: bool = (
    env.bool("OUTBOUND_ALLOW_PRIVATE_URLS")
    if env.str("OUTBOUND_ALLOW_PRIVATE_URLS", default="")  # set and not empty
    else env.bool("WEBHOOK_ALLOW_PRIVATE_URLS", default=False)
)
# Inbound bodies larger than this are refused with 413.
WEBHOOK_MAX_BODY_BYTES: int = env.int("WEBHOOK_MAX_BODY_BYTES", default=256 * 1024)
# Finished webhook deliveries (both ways) are deleted this many days after they finished.
WEBHOOK_RETENTION_DAYS: int = env.int("WEBHOOK_RETENTION_DAYS", default=30)
# How long one outbound attempt may take, connecting and reading, in seconds.
WEBHOOK_TIMEOUT_SECONDS: float = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)

# Booking calendars (see calendars/): how often each is fetched, how long one fetch may take,
# the largest body read, and how long a feed may fail before it is flagged for review.
CALENDAR_FETCH_MINUTES: int = env.int("CALENDAR_FETCH_MINUTES", default=15)
CALENDAR_TIMEOUT_SECONDS: float = env.float("CALENDAR_TIMEOUT_SECONDS", default=20.0)
CALENDAR_MAX_BYTES: int = env.int("CALENDAR_MAX_BYTES", default=5 * 1024 * 1024)
CALENDAR_FAILING_HOURS: int = env.int("CALENDAR_FAILING_HOURS", default=6)
# Notifications (see notifications/). Email to staff and guests goes through Django's mail,
# configured by one URL: smtp://user:password@host:587 (STARTTLS with ?tls=1), smtps://... for
# TLS. Unset, email is off and each email notification fails visibly in the admin (a console
# default would print guests' PINs into the worker's log). Chat and SMS go through Apprise URLs.
EMAIL_URL: str = env.str("EMAIL_URL", default="")
EMAIL_CONFIG: dict = environ.Env.email_url_config(EMAIL_URL) if EMAIL_URL else {}
NOTIFICATIONS_FROM_EMAIL: str = env.str("NOTIFICATIONS_FROM_EMAIL", default="latchkey@localhost")
# Where messages link to: the address people open Latchkey at.
PUBLIC_URL: str = env.str("PUBLIC_URL", default="http://127.0.0.1:8000")
