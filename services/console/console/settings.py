"""Settings of the console service: port, session cookie, login throttle, metrics currency."""

from __future__ import annotations

from pydantic import Field, SecretStr

from wacommon.metrics.prices import PricedSettings


class ConsoleSettings(PricedSettings):
    """Shared settings plus what only the console reads (and `METRICS_PRICES`, with which
    the metrics page prices today's live usage exactly as the metrics service will)."""

    service_name: str = "console"
    console_port: int = 8006
    # cookies without `Secure` so a browser keeps them over plain http://127.0.0.1 (make run)
    console_insecure_cookies: bool = False
    # a session unused for this long is gone (every authenticated request renews it)
    console_session_hours: float = 12
    console_session_cookie: str = "wa_console_session"
    # each process reuses a session it read from Redis for this long (0 = every request
    # reads Redis): a session revoked by another process stops working there within it
    console_session_cache_s: float = Field(default=0.5, ge=0, le=1)
    # sign-in attempts allowed per window: per email (a success clears it) and per address
    console_login_max_per_email: int = 5
    console_login_max_per_address: int = 20
    console_login_window_s: int = 900
    # the largest file an attendant may send from the inbox (WhatsApp's own caps apply too)
    console_upload_max_bytes: int = 16 * 1024 * 1024
    # how often an upload polls Gemini's File Search until the document is indexed
    console_file_search_poll_s: float = Field(default=2.0, gt=0, le=30)
    # Facebook Login for Business configuration of the "WhatsApp Embedded Signup" variation;
    # with META_APP_ID set the channels page loads Facebook's SDK and opens the signup with it
    meta_signup_config_id: str | None = Field(default=None, pattern=r"^\d{1,32}$")
    # hosts provider media links may reach over http or private addresses (as in the rag-worker)
    tool_allowed_hosts: str = ""
    # Uazapi (the channels page): the server new instances are created on and the default an
    # owner's "attach" form starts from; the admin token creates instances (unset: attach only)
    uazapi_url: str = "https://free.uazapi.com"
    uazapi_admin_token: SecretStr | None = None
    # how long a QR code / pairing code is waited for before the page says it expired
    # (Uazapi's own limits: 2 min for a QR code, 5 for a pairing code)
    uazapi_connect_timeout_s: float = Field(default=120, gt=0)
    # the deadline of one call to Uazapi or LancePilot from the channels page
    channels_http_timeout_s: float = Field(default=10, gt=0, le=60)
    # reais per US dollar for the costs on the metrics page (prices are in USD)
    metrics_usd_brl: float = Field(default=5.40, gt=0, le=1000)

    def link_hosts(self) -> frozenset[str]:
        """TOOL_ALLOWED_HOSTS as a set (comma-separated, like the rag-worker reads it)."""
        return frozenset(h.strip().lower() for h in self.tool_allowed_hosts.split(",") if h.strip())
