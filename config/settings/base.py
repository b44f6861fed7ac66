"""Keyship settings: every value comes from the environment (see .env.example).

Without DEBUG=true they are production's: the keys are required and the security headers on.
The defaults of the rest need no server: SQLite, a file-system Celery broker and e-mails
written as files, all under var/. Production sets DATABASE_URL, CELERY_BROKER_URL, EMAIL_URL,
SECRET_KEY, ACTIVATION_CODE_KEY, LICENSE_SIGNING_KEY and ALLOWED_HOSTS.
"""

import base64
import binascii
import datetime
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from apps.core.logs import logging_config
from config.prometheus import multiprocess_dir_prepare
from config.storage import object_storage

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
env.read_env(BASE_DIR / ".env", overwrite=False)

# What this host writes for itself (beat's schedule, the metrics of its processes, and on the
# embedded defaults the database, the broker, mail and files). Nothing in it is shared with
# another host: what several hosts share lives in PostgreSQL, Redis and the object store.
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))

# Production is the default: a deployment that forgets DEBUG runs with it off and asks for its
# keys. Development mode (public keys, a signing key made under var/, static files straight
# from the source folders) is asked for with DEBUG=true, as `make run` does.
DEBUG = env.bool("DEBUG", default=False)

# Development keys are fixed and public; a production deployment must set its own.
_DEV_SECRET_KEY = "django-insecure-keyship-development-only"
_DEV_ACTIVATION_CODE_KEY = "keyship-development-activation-code-key"
# Both keys are strings of the operator's choice: a word or a phrase is guessable, 32 random
# characters are not. SECRET_KEY takes Django's own bar (the deploy check's), 50;
# ACTIVATION_CODE_KEY cannot be changed once codes are stored, so its bar stays at 32.
_KEY_MIN_LENGTH = {"SECRET_KEY": 50, "ACTIVATION_CODE_KEY": 32}
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
ACTIVATION_CODE_KEY = env.str(
    "ACTIVATION_CODE_KEY", default=_DEV_ACTIVATION_CODE_KEY if DEBUG else ""
)

# License keys are signed with this Ed25519 key (base64 of its raw 32 bytes); without it a
# development key is made under var/. Retired keys' public halves (base64, comma-separated)
# stay published so that the keys they signed still verify.
LICENSE_SIGNING_KEY = env.str("LICENSE_SIGNING_KEY", default="")
LICENSE_DEVELOPMENT_KEY_FILE = VAR_DIR / "license-signing-key" if DEBUG else None
LICENSE_RETIRED_PUBLIC_KEYS = env.list("LICENSE_RETIRED_PUBLIC_KEYS", default=[])
# Days a license key is trusted after it is issued (its Expires); a device refreshes it
# before then at POST /license-keys/refresh/, so a revoke reaches it within this many days.
LICENSE_KEY_REFRESH_DAYS = env.int("LICENSE_KEY_REFRESH_DAYS", default=30)
# Seconds the signed revocation list is reused before it is built again (its next_update):
# a revoke is in the published list within this long.
LICENSE_KEY_REVOCATIONS_MAX_AGE = env.int("LICENSE_KEY_REVOCATIONS_MAX_AGE", default=300)


def _production_keys_check(keys: dict[str, str]) -> None:
    """Refuses, at start-up, a production process without its own keys: a missing key, a
    published development key (anyone could sign sessions or read activation codes with it)
    or one too short to be secret."""
    published = {_DEV_SECRET_KEY, _DEV_ACTIVATION_CODE_KEY}
    for name in ("SECRET_KEY", "ACTIVATION_CODE_KEY"):
        value = keys[name]
        if not value.strip():
            raise ImproperlyConfigured(
                f"{name} must be set when DEBUG is off (on a development machine, set "
                "DEBUG=true in the environment or in .env)."
            )
        if value.strip() in published or value.strip().startswith("django-insecure"):
            raise ImproperlyConfigured(
                f"{name} is the published development key: set a secret one of your own "
                "(e.g. `openssl rand -base64 48`) when DEBUG is off."
            )
        # Django's deploy check asks for 5 different characters; "aaaa..." is no secret.
        if len(value) < _KEY_MIN_LENGTH[name] or len(set(value)) < 5:
            raise ImproperlyConfigured(
                f"{name} must be at least {_KEY_MIN_LENGTH[name]} characters, not one or two "
                "repeated, when DEBUG is off (e.g. `openssl rand -base64 48`)."
            )
    if not keys["LICENSE_SIGNING_KEY"].strip():
        raise ImproperlyConfigured("LICENSE_SIGNING_KEY must be set when DEBUG is off.")
    try:
        raw = base64.b64decode(keys["LICENSE_SIGNING_KEY"].strip(), validate=True)
    except binascii.Error:
        raw = b""
    if len(raw) != 32:
        raise ImproperlyConfigured(
            "LICENSE_SIGNING_KEY must be the base64 of 32 bytes "
            "(manage.py create_license_signing_key makes one)."
        )


if not DEBUG:
    _production_keys_check(
        {
            "SECRET_KEY": SECRET_KEY,
            "ACTIVATION_CODE_KEY": ACTIVATION_CODE_KEY,
            "LICENSE_SIGNING_KEY": LICENSE_SIGNING_KEY,
        }
    )

# The public address of this site, for links in emails and certificates.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "apps.backoffice.apps.KeyshipAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "simple_history",
    "axes",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "anymail",
    "apps.core",
    "apps.outbox",
    "apps.accounts",
    "apps.catalog",
    "apps.orders",
    "apps.entitlements",
    "apps.lms",
    "apps.notifications",
    "apps.fulfillment",
    "apps.backoffice",
    "apps.portal",
    "apps.api",
]

MIDDLEWARE = [
    # First: every response, a redirect or an error page included, carries its request id,
    # and every line logged while it is made names it.
    "apps.core.middleware.request_id_middleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After WhiteNoise, whose static files may be cached; before the rest, so that every page
    # (a lockout and an error page included) comes back through it.
    "apps.core.middleware.no_store_middleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.core.middleware.staff_session_middleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as its documentation asks: it answers a locked-out login before the view runs.
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
                "django.template.context_processors.i18n",
                "apps.portal.context_processors.customer_admin",
            ],
        },
    },
]

# Database ---------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'keyship.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # web, worker and beat share one SQLite file under `make run`: WAL lets readers
    # carry on during a write, IMMEDIATE takes the write lock up front instead of
    # failing half-way through a transaction, and the timeout waits for it.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # No JIT compilation: PostgreSQL compiles a query whose estimated cost passes a
    # threshold, which the pages' index-driven aggregates over a million rows do, and the
    # compiling alone takes longer (~50 ms) than running them (benchmarks/seats.py).
    # DATABASE_URL's own ?options= wins.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Auth -------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "portal:entitlements"
LOGOUT_REDIRECT_URL = "login"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out login
    "django.contrib.auth.backends.ModelBackend",
]
# Five wrong passwords for one address from one client lock that pair out for 15 minutes.
# The counts live in the shared cache (Redis, CACHE_URL) in production; on the embedded
# defaults, whose cache is per process, in the database.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"  # the login forms' field, which holds the email address
# Counted in the one spelling the login reads (any case, no spaces), from the client's address.
AXES_USERNAME_CALLABLE = "apps.accounts.auth.login_username"
AXES_CLIENT_IP_CALLABLE = "apps.core.http.client_address"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24  # a reset link works for a day

# ERP API ----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["apps.api.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["apps.api.permissions.HasScope"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["apps.api.parsers.JsonBodyParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.api.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Keyship ERP API",
    "DESCRIPTION": (
        "Sales orders in, entitlements out. Send `Authorization: Bearer <token>` "
        '(`manage.py create_api_client NAME`). Errors are `{"errors": ["path: message"]}`.'
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "REDOC_DIST": "SIDECAR",  # the docs page's scripts come from this site, not a CDN
    "COMPONENT_SPLIT_REQUEST": True,
    # Entitlements and their changes share the statuses: one enum, named for what it is.
    "ENUM_NAME_OVERRIDES": {
        "EntitlementStatusEnum": "apps.entitlements.models.EntitlementStatus.choices",
        "EntitlementChangeKindEnum": "apps.entitlements.models.ChangeKind.choices",
    },
}
# A larger body is refused with 413; an order holds at most 1,000 lines (its contract).
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=2 * 1024 * 1024)

# Cache: rate limits and login throttling -------------------------------------------------
# The embedded default keeps the counts in each process's memory, which suits `make run`;
# production points CACHE_URL at Redis (redis://host:6379/1) so every web process shares them.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://keyship")}
AXES_HANDLER = (
    "axes.handlers.database.AxesDatabaseHandler"
    if CACHES["default"]["BACKEND"].endswith("LocMemCache")
    else "axes.handlers.cache.AxesCacheHandler"
)
# Activation-code attempts allowed per user and per client address.
ACTIVATION_CODE_RATE = env.str("ACTIVATION_CODE_RATE", default="10/m")
# Password-reset emails per address to reset, and requests per client address; beyond them
# the form answers as always and sends nothing.
PASSWORD_RESET_RATE = env.str("PASSWORD_RESET_RATE", default="3/h")
PASSWORD_RESET_CLIENT_RATE = env.str("PASSWORD_RESET_CLIENT_RATE", default="10/h")
# Sign-in links for order addresses (apps/portal/sign_in_links.py): links asked for per
# address and per client address; beyond them the page says to wait and nothing is written.
SIGN_IN_LINK_RATE = env.str("SIGN_IN_LINK_RATE", default="3/h")
SIGN_IN_LINK_CLIENT_RATE = env.str("SIGN_IN_LINK_CLIENT_RATE", default="10/h")
# API calls refused for want of a valid token that are audited per client address; beyond
# this a flood of them writes no rows (the web server's log still has each request).
API_REFUSED_AUDIT_RATE = env.str("API_REFUSED_AUDIT_RATE", default="30/m")
# License key refreshes (POST /license-keys/refresh/) per device (SSRN and serial number)
# and per client address; many devices may refresh from behind one address. Each refresh
# keeps the key it replaces, so the per-device rate also bounds those rows.
LICENSE_KEY_REFRESH_RATE = env.str("LICENSE_KEY_REFRESH_RATE", default="20/d")
LICENSE_KEY_REFRESH_CLIENT_RATE = env.str("LICENSE_KEY_REFRESH_CLIENT_RATE", default="120/m")

# The client's address ------------------------------------------------------------------
# How many reverse proxies stand in front of the web processes. 0: the client is
# REMOTE_ADDR and X-Forwarded-For is ignored (a client can write anything there). n: the
# client is the n-th address from the right of X-Forwarded-For. One function reads it for
# login lockouts, rate limits and the audit (apps.core.http.client_address).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
RATELIMIT_IP_META_KEY = "apps.core.http.client_address"

# Internationalisation ---------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", _("English")),
    ("de", _("German")),
    ("fr", _("French")),
    ("ja", _("Japanese")),
    ("zh-hans", _("Simplified Chinese")),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# The business time zone: a line is due once its requested ship date has begun here.
FULFILLMENT_TIME_ZONE = env.str("FULFILLMENT_TIME_ZONE", default="UTC")

# Static files and media -------------------------------------------------------------------
STATIC_URL = "static/"
# Where `collectstatic` (the release step) gathers the static files that WhiteNoise serves.
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = env.path("MEDIA_ROOT", default=VAR_DIR / "media")
STORAGES = {
    # Certificates and key files are private: served only by views that check who asks.
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Several hosts: stored files go to an S3 bucket, or an S3-compatible store (MinIO, Ceph,
# Garage, another cloud's), that every host reaches; private objects (config.storage). Unset,
# they go to MEDIA_ROOT on this host's disk, as `make run` wants.
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    STORAGES["default"] = object_storage(
        bucket=AWS_STORAGE_BUCKET_NAME,
        endpoint_url=env.str("AWS_S3_ENDPOINT_URL", default=""),
        region=env.str("AWS_S3_REGION_NAME", default=""),
        addressing_style=env.str("AWS_S3_ADDRESSING_STYLE", default=""),
        location=env.str("AWS_LOCATION", default=""),
    )
# Certificates name their customer and key files hold keys: files only Keyship's user reads,
# in folders only it opens (Django's defaults are 0644 and the umask's 0755).
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
if DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
WHITENOISE_USE_FINDERS = DEBUG

# E-mail -----------------------------------------------------------------------------------
vars().update(env.email_url("EMAIL_URL", default="filemail://"))
if EMAIL_BACKEND.endswith("filebased.EmailBackend"):  # noqa: F821 - set by the line above
    # django-environ reads filemail:///path as a relative path: name the folder here.
    EMAIL_FILE_PATH = env.path("EMAIL_FILE_PATH", default=VAR_DIR / "mail")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Keyship <licensing@keyship.example>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
# Any Django email backend may send instead of EMAIL_URL's: an email service provider through
# django-anymail ("anymail.backends.mailgun.EmailBackend"), a backend that signs with DKIM.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="") or EMAIL_BACKEND  # noqa: F821
# Delivery tracking (django-anymail, Mailgun): bounces, complaints and deliveries arrive at
# /anymail/mailgun/tracking/, signed with the webhook signing key; without that key the
# address answers 404. WEBHOOK_SECRET ("user:password") also asks for HTTP basic auth.
ANYMAIL = {
    name: value
    for name, value in {
        "MAILGUN_API_KEY": env.str("ANYMAIL_MAILGUN_API_KEY", default=""),
        "MAILGUN_API_URL": env.str("ANYMAIL_MAILGUN_API_URL", default=""),
        "MAILGUN_SENDER_DOMAIN": env.str("ANYMAIL_MAILGUN_SENDER_DOMAIN", default=""),
        "MAILGUN_WEBHOOK_SIGNING_KEY": env.str("ANYMAIL_MAILGUN_WEBHOOK_SIGNING_KEY", default=""),
        "WEBHOOK_SECRET": env.str("ANYMAIL_WEBHOOK_SECRET", default=""),
    }.items()
    if value
}

# Celery -----------------------------------------------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for _folder in ("queue", "control"):
        (BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # A message of a worker killed whole comes back after the visibility timeout;
        # every countdown stays below it (the tasks' rows, not the messages, are the truth).
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "fulfillment"
CELERY_TASK_ROUTES = {
    # Rendering the certificates of a shipment is PDF work, whatever app schedules it.
    "apps.fulfillment.tasks.shipment_documents_task": {"queue": "pdf"},
    "apps.entitlements.tasks.entitlement_status_changes_task": {"queue": "fulfillment"},
    "apps.accounts.*": {"queue": "mail"},
    "apps.fulfillment.*": {"queue": "fulfillment"},
    "apps.entitlements.*": {"queue": "pdf"},
    "apps.notifications.*": {"queue": "mail"},
    # A slow endpoint holds up only other webhook events, never an email.
    "apps.outbox.tasks.webhook_deliveries_send_task": {"queue": "webhooks"},
    "apps.outbox.*": {"queue": "mail"},
}
CELERY_TIMEZONE = "UTC"
# No task holds a worker forever (a PDF that never ends, a mail server that stops answering).
# At the soft limit the task is interrupted (SoftTimeLimitExceeded) and puts its row back for
# another try; at the hard limit the worker process is killed and replaced, and the rescuer
# takes its rows once their leases run out. A task whose normal run is longer says so on its
# decorator; every hard limit stays below the lease of the rows it works on, so a row is never
# handed to a second worker while a first still works on it (tests/test_task_limits.py).
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=90)
# Seconds a worker holds a certificate to render or an email to send before the rescuer may
# give it to another worker (a killed worker never says it stopped), and how long an email
# waits for its certificates before it is looked at again.
CERTIFICATE_RENDER_LEASE = env.int("CERTIFICATE_RENDER_LEASE", default=300)
EMAIL_SEND_LEASE = env.int("EMAIL_SEND_LEASE", default=180)
EMAIL_DOCUMENTS_WAIT = env.int("EMAIL_DOCUMENTS_WAIT", default=60)
# Webhooks: seconds an endpoint has to answer each attempt; deliveries in a row that fail
# for good (after every retry) before an endpoint is disabled and its owner told. Loopback and
# private targets (and plain http://) are refused unless WEBHOOK_ALLOW_PRIVATE_URLS is true:
# for development (`make run` sets it, so the demo posts to its own receiver) and tests only.
WEBHOOK_TIMEOUT = env.float("WEBHOOK_TIMEOUT", default=10.0)
WEBHOOK_DISABLE_AFTER = env.int("WEBHOOK_DISABLE_AFTER", default=5)
WEBHOOK_ALLOW_PRIVATE_URLS = env.bool("WEBHOOK_ALLOW_PRIVATE_URLS", default=False)
# Days before a subscription term ends on which its contacts are reminded; they are also
# told when it enters its grace period and when it expires.
REMINDER_WINDOWS = env.list("REMINDER_WINDOWS", cast=int, default=[90, 60, 30, 7])
# The admin warns when a legacy key pool has fewer available keys than this.
LEGACY_KEY_POOL_WARNING = env.int("LEGACY_KEY_POOL_WARNING", default=20)
# Every task marked `periodic=True` is here, and only those (tests/test_beat.py); the
# README's table of processes says the same.
CELERY_BEAT_SCHEDULE = {
    # Ship dates are never Celery ETAs: the sweep reads them from the database every minute.
    "fulfil-due-lines": {"task": "apps.fulfillment.tasks.fulfil_due_task", "schedule": 60.0},
    "rescue-queued-work": {
        "task": "apps.fulfillment.tasks.queued_work_rescue_task",
        "schedule": 60.0,
    },
    # At the top of every hour, not an hour after beat started: a beat restarted more often
    # than hourly (a deploy that loses the schedule file) still runs it. A run tells each
    # window once, so the runs of one day add only what became due since the last.
    "send-reminders": {
        "task": "apps.notifications.tasks.reminders_task",
        "schedule": crontab(minute=0),
    },
    # Statuses move at midnight in the business time zone without a write: the change feed
    # tells each move within five minutes of it.
    "record-entitlement-status-changes": {
        "task": "apps.entitlements.tasks.entitlement_status_changes_task",
        "schedule": 300.0,
    },
    # Signs of life for the dashboard: beat records sending it, each queue's worker running
    # it. A message not taken within a minute is dropped: the next one says the same.
    **{
        f"heartbeat-{queue}": {
            "task": "apps.core.tasks.heartbeat_task",
            "schedule": 30.0,
            "options": {"queue": queue, "expires": 60},
        }
        for queue in ("fulfillment", "pdf", "mail", "webhooks")
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = env.str(
    "CELERY_BEAT_SCHEDULE_FILENAME", default=str(VAR_DIR / "celerybeat-schedule")
)
VAR_DIR.mkdir(parents=True, exist_ok=True)  # SQLite, mail, beat and metrics write here

# Metrics ----------------------------------------------------------------------------------
# GET /metrics answers Prometheus' text format to `Authorization: Bearer <METRICS_TOKEN>`;
# without a token it does not exist (404). Every process of a host (gunicorn's workers,
# Celery's prefork children, management commands) writes its counters to files in
# PROMETHEUS_MULTIPROC_DIR, which /metrics adds up: one folder per host, emptied only while
# none of them runs (README, Metrics). Set in the environment here, before prometheus_client
# is first imported: it picks its mode then.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
if not DEBUG and METRICS_TOKEN and (len(METRICS_TOKEN) < 32 or len(set(METRICS_TOKEN)) < 5):
    raise ImproperlyConfigured(
        "METRICS_TOKEN must be at least 32 characters, not one or two repeated, when DEBUG is "
        "off (e.g. `openssl rand -hex 32`), or unset to turn /metrics off."
    )
PROMETHEUS_MULTIPROC_DIR = multiprocess_dir_prepare(
    env.str("PROMETHEUS_MULTIPROC_DIR", default=str(VAR_DIR / "prometheus"))
)

# Logging and errors -----------------------------------------------------------------------
# text (the default, for people: `make run`) or json: every process (web, worker, beat) then
# writes one JSON object per line with its request or task id and the order, SSRN or delivery
# it works on. Either way, anything shaped like a secret is redacted (apps.core.logs).
LOG_FORMAT = env.str("LOG_FORMAT", default="text").strip().lower()
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be text or json, not {LOG_FORMAT!r}.")
LOGGING = logging_config(log_format=LOG_FORMAT, level=env.str("LOG_LEVEL", default="INFO"))
# Errors go to Sentry when SENTRY_DSN is set, without personal data and with secrets scrubbed
# (config.sentry); traces only when a sample rate is set.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", default="production")
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)
if SENTRY_DSN:
    from config.sentry import sentry_init

    sentry_init(
        dsn=SENTRY_DSN,
        environment=SENTRY_ENVIRONMENT,
        traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
    )

# Security in production -------------------------------------------------------------------
# These hold in development too, so that what a browser enforces is seen before a deploy.
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
# Scripts, styles, images and fonts come from this site only, and no inline script runs: an
# injected <script> does nothing. The API's docs page (Redoc) adds what it needs on its own
# view (apps/api/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
# A portal session lasts two weeks (Django's default); a staff member's, who sees every
# customer's codes, ends 8 hours after signing in (apps.core.middleware).
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 24 * 14)
STAFF_SESSION_AGE = env.int("STAFF_SESSION_AGE", default=60 * 60 * 8)
# A sign-in link works once, for SIGN_IN_LINK_MINUTES; the order address's session it opens
# ends ORDER_ADDRESS_SESSION_AGE seconds after signing in, whatever it does meanwhile.
SIGN_IN_LINK_MINUTES = env.int("SIGN_IN_LINK_MINUTES", default=15)
ORDER_ADDRESS_SESSION_AGE = env.int("ORDER_ADDRESS_SESSION_AGE", default=60 * 60 * 2)
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    # Plain HTTP is answered with a redirect to HTTPS. Behind a proxy that ends TLS, the
    # proxy's X-Forwarded-Proto: https (above) tells a secure request apart, so it stays on.
    # The health check stays reachable over plain HTTP, as load balancers probe it.
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # So is /metrics, for a Prometheus that scrapes each host's web processes directly on the
    # internal network rather than through the TLS proxy (its token is then sent in clear on
    # that network: scrape through the proxy where that network is not trusted).
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
    # A browser that has seen the site over HTTPS refuses plain HTTP to it for a year.
    # Preloading takes effect only once the domain is submitted to the browsers' list.
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
