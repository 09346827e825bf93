"""Settings of the console service: port, session cookie, login throttle."""

from __future__ import annotations

from pydantic import Field

from wacommon.settings import Settings


class ConsoleSettings(Settings):
    """Shared settings plus what only the console reads."""

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
    # Facebook Login for Business configuration of the "WhatsApp Embedded Signup" variation;
    # with META_APP_ID set the channels page loads Facebook's SDK and opens the signup with it
    meta_signup_config_id: str | None = Field(default=None, pattern=r"^\d{1,32}$")
    # hosts provider media links may reach over http or private addresses (as in the rag-worker)
    tool_allowed_hosts: str = ""

    def link_hosts(self) -> frozenset[str]:
        """TOOL_ALLOWED_HOSTS as a set (comma-separated, like the rag-worker reads it)."""
        return frozenset(h.strip().lower() for h in self.tool_allowed_hosts.split(",") if h.strip())
