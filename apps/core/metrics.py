"""What Keyship counts for Prometheus, defined once; the services record it where the work
happens.

Every process writes to files in PROMETHEUS_MULTIPROC_DIR (config/prometheus.py) and
`/metrics` adds them up, so a counter here is the whole host's. Labels take only values from
a short, fixed list (a channel, a kind of message, a stage, a limit's name): never an address,
an SSRN, an order number or anything a customer typed, which would make a series per value and
could carry personal data to the monitoring system.

The gauges (queue depths, overdue lines) are not here: they are read from the database when
/metrics is scraped (apps/backoffice/metrics.py), so they are right whichever process did the
work and whenever it ended.
"""

from prometheus_client import Counter, Histogram

# From a minute to a week: a line is shipped by the sweep within a minute of its day's start,
# unless it arrived late (its date already past) or waited on hold or for legacy keys; an email
# goes out within seconds to minutes of its shipment, or hours when the mail server refuses it.
LAG_BUCKETS = (
    1,
    5,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86400,
    2 * 86400,
    7 * 86400,
)
RENDER_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60)

fulfillment_lag_seconds = Histogram(
    "keyship_fulfillment_lag_seconds",
    "Seconds from a line's requested ship date (its start in FULFILLMENT_TIME_ZONE) to its "
    "shipping (stage=due_to_shipped), and from a shipment to the mail server accepting its "
    "Fulfillment Email (stage=shipped_to_accepted).",
    ["stage"],
    buckets=LAG_BUCKETS,
)
lines = Counter(
    "keyship_lines_total",
    "Order lines shipped, and lines that became blocked.",
    ["outcome"],
)
certificates_rendered = Counter(
    "keyship_certificates_rendered_total", "Certificates rendered and stored."
)
certificate_render_seconds = Histogram(
    "keyship_certificate_render_seconds",
    "Seconds WeasyPrint took to render a certificate.",
    buckets=RENDER_BUCKETS,
)
messages = Counter(
    "keyship_messages_total",
    "Messages (emails, webhook events) the server accepted (sent), refused for now (retry) "
    "or for good (failed), by channel and kind.",
    ["channel", "kind", "outcome"],
)
activations = Counter("keyship_activations_total", "Devices activated on an entitlement.")
license_key_refreshes = Counter(
    "keyship_license_key_refreshes_total",
    "License key refreshes asked for by devices, by how they were answered (the status).",
    ["status"],
)
logins_refused = Counter(
    "keyship_logins_refused_total",
    "Sign-ins refused: wrong credentials, or a client and address locked out.",
    ["reason"],
)
rate_limited = Counter(
    "keyship_rate_limited_total",
    "Requests past a rate limit, by the limit (its setting's name).",
    ["limit"],
)

# The limits, as the `limit` label names them (the settings that set them).
LIMIT_ACTIVATION_CODE = "activation_code"
LIMIT_PASSWORD_RESET = "password_reset"
LIMIT_SIGN_IN_LINK = "sign_in_link"
LIMIT_API_REFUSED_AUDIT = "api_refused_audit"
LIMIT_LICENSE_KEY_REFRESH = "license_key_refresh"


def lag_observe(stage: str, seconds: float) -> None:
    """A lag; a negative one (a line shipped ahead of its date with "ship now") says nothing
    about being late and is left out."""
    if seconds >= 0:
        fulfillment_lag_seconds.labels(stage=stage).observe(seconds)


def login_refused_count(sender, credentials=None, request=None, **kwargs) -> None:
    """`user_login_failed` receiver (CoreConfig.ready): every refused sign-in, whichever
    form; django-axes marks the request of a client and address it has locked out."""
    locked_out = getattr(request, "axes_locked_out", False)
    logins_refused.labels(reason="locked_out" if locked_out else "credentials").inc()
