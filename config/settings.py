"""Latchkey settings. Values come from config.env; defaults are the embedded profile
(SQLite in var/, django-q2 on the ORM broker) so a fresh clone runs with nothing configured."""

import os
from datetime import timedelta

import environ
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from config import env

BASE_DIR = env.BASE_DIR
VAR_DIR = env.VAR_DIR
DEBUG = env.DEBUG

if env.SECRET_KEY:
    SECRET_KEY = env.SECRET_KEY
elif DEBUG:
    SECRET_KEY = "django-insecure-latchkey-local-development-only"  # noqa: S105
else:
    raise ImproperlyConfigured(
        "SECRET_KEY must be set when DEBUG is off (set DEBUG=1 for local development)."
    )

CREDENTIALS_KEY = env.CREDENTIALS_KEY or SECRET_KEY

ALLOWED_HOSTS = env.ALLOWED_HOSTS
CSRF_TRUSTED_ORIGINS = env.CSRF_TRUSTED_ORIGINS

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "axes",
    "django_q",
    "devices",
    "codes",
    "webhooks",
    "calendars",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "common.middleware.RefuseNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
_SQLITE = "django.db.backends.sqlite3"
if env.DATABASE_URL:
    DATABASES = {"default": environ.Env.db_url_config(env.DATABASE_URL)}
else:
    # The database holds sessions and webhook secrets: var/ is the owner's alone (0700), and the
    # file is created 0600 before SQLite would create it with the umask's 0644 (its -wal and -shm
    # files take the database file's mode).
    env.VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    _SQLITE_FILE = env.VAR_DIR / "latchkey.sqlite3"
    if not _SQLITE_FILE.exists():
        os.close(os.open(_SQLITE_FILE, os.O_CREAT | os.O_WRONLY, 0o600))
    DATABASES = {"default": {"ENGINE": _SQLITE, "NAME": _SQLITE_FILE}}
# Kept open between requests: on SQLite, closing the last connection to a WAL database
# checkpoints it, which cost more than the rest of a webhook request (bench/).
DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == _SQLITE:
    # Every SQLite database, the default one in var/ or one named by DATABASE_URL, gets these;
    # options given in the URL's query string (``?timeout=60``) win.
    DATABASES["default"]["OPTIONS"] = {
        # IMMEDIATE takes the write lock when a transaction starts, so two writers queue on the
        # busy timeout instead of failing with "database is locked" mid-transaction.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        # WAL lets the web server read while the worker writes.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        **DATABASES["default"].get("OPTIONS", {}),
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- django-q2 ------------------------------------------------------------------------------
# timeout < retry, so a task is never handed to a second worker while the first still runs it;
# max_attempts bounds how often a crashing task is retried.
Q_CLUSTER = {
    "name": "latchkey",
    "workers": env.Q_WORKERS,
    "timeout": 120,
    "retry": 180,
    "max_attempts": 5,
    "catch_up": False,
    "ack_failures": True,
}
WORKER_STOP_SECONDS = env.WORKER_STOP_SECONDS
if env.REDIS_URL:
    Q_CLUSTER["redis"] = env.REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Cache -----------------------------------------------------------------------------------
# Shared by every process: the web server's workers, the qcluster's and other machines'. Latchkey
# keeps no state of its own in a cache. On the ORM broker django-q2 keeps its cluster statistics
# here (`qinfo`, `qmonitor` read them from another process); on Redis it keeps them in the broker.
# Redis when the production profile has it; else files in var/, which one machine's web server
# and worker share (the per-process default, local memory, would hide each from the other).
if env.REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env.REDIS_URL,
            "KEY_PREFIX": "latchkey",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": env.VAR_DIR / "cache",
        }
    }

# --- Scheduler ------------------------------------------------------------------------------
ADVANCE_PROGRAMMING_DAYS = env.ADVANCE_PROGRAMMING_DAYS
REVIEW_LEAD_HOURS = env.REVIEW_LEAD_HOURS
JUST_IN_TIME_MINUTES = env.JUST_IN_TIME_MINUTES
PREFLIGHT_INTERVAL_HOURS = env.PREFLIGHT_INTERVAL_HOURS
SCHEDULER_BATCH_SIZE = env.SCHEDULER_BATCH_SIZE
SCHEDULER_LEASE_SECONDS = env.SCHEDULER_LEASE_SECONDS

# --- Webhooks -------------------------------------------------------------------------------
OUTBOUND_ALLOW_PRIVATE_URLS = env.OUTBOUND_ALLOW_PRIVATE_URLS
WEBHOOK_ALLOW_PRIVATE_URLS = OUTBOUND_ALLOW_PRIVATE_URLS  # the older name, which webhooks/ reads
WEBHOOK_MAX_BODY_BYTES = env.WEBHOOK_MAX_BODY_BYTES
WEBHOOK_TIMEOUT_SECONDS = env.WEBHOOK_TIMEOUT_SECONDS
WEBHOOK_RETENTION_DAYS = env.WEBHOOK_RETENTION_DAYS

# --- Booking calendars ----------------------------------------------------------------------
CALENDAR_FETCH_MINUTES = env.CALENDAR_FETCH_MINUTES
CALENDAR_TIMEOUT_SECONDS = env.CALENDAR_TIMEOUT_SECONDS
CALENDAR_MAX_BYTES = env.CALENDAR_MAX_BYTES
CALENDAR_FAILING_HOURS = env.CALENDAR_FAILING_HOURS

# --- Auth, i18n, time -----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# Everything is stored in UTC; pages show each property's own time zone.
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = env.VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Security (read from the environment; see README) ---------------------------------------
SECURE_SSL_REDIRECT = env.SECURE_SSL_REDIRECT
SECURE_HSTS_SECONDS = env.SECURE_HSTS_SECONDS
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.SECURE_HSTS_INCLUDE_SUBDOMAINS
SECURE_HSTS_PRELOAD = env.SECURE_HSTS_PRELOAD
SESSION_COOKIE_SECURE = env.SESSION_COOKIE_SECURE
CSRF_COOKIE_SECURE = env.CSRF_COOKIE_SECURE
if env.TRUST_X_FORWARDED_PROTO:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
TRUST_X_FORWARDED_FOR = env.TRUST_X_FORWARDED_FOR

# Content-Security-Policy (django-csp) on every response: scripts and styles only from Latchkey's
# own static files, or inline where the page was rendered with this response's nonce
# ({{ CSP_NONCE }}: a page's computed positions, such as the timeline's bars). No inline style
# attributes, no inline scripts without it, nothing from other sites, no framing. The API docs
# page relaxes what it must (api/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Login throttling (django-axes): failures are counted per username and client address, so a
# stranger guessing one account's password cannot lock its owner out from elsewhere. A lockout
# lapses after the cool-off; `manage.py axes_reset` lifts every lockout at once (README).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=env.LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"
AXES_CLIENT_IP_CALLABLE = "common.client_ip.client_ip"
# django-axes masks the password (and logs usernames and addresses masked) in what it keeps of a
# failed attempt; its records are in the admin for those given its permissions.

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.LOG_LEVEL},
}


# The REST API speaks Seam's access-code API (see api/wire.py for its envelope, errors
# and authentication, which each route sets itself).
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Latchkey API",
    "DESCRIPTION": (
        "Seam's access-code API, served by Latchkey: point Seam's official SDKs at "
        "http://HOST/api with a workspace API key (seam_...)."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs page's scripts are served from Latchkey's own static files: it works offline, and
    # under the Content-Security-Policy's script-src 'self'.
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {"EventTypeEnum": "codes.models.EventType"},
}

# --- Notifications (notifications/) -----------------------------------------------------------
vars().update(env.EMAIL_CONFIG)  # EMAIL_BACKEND, EMAIL_HOST, EMAIL_PORT, ... from EMAIL_URL
LATCHKEY_EMAIL_ENABLED = bool(env.EMAIL_URL)
EMAIL_TIMEOUT = 10  # seconds; a stuck mail server must not hold a worker
DEFAULT_FROM_EMAIL = env.NOTIFICATIONS_FROM_EMAIL
LATCHKEY_PUBLIC_URL = env.PUBLIC_URL.rstrip("/")
