"""Typed settings, built once per process in `main` and passed down."""

from __future__ import annotations

from functools import cached_property

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICE_PORTS: dict[str, int] = {
    "meta-gateway": 8000,
    "lancepilot-ingest": 8001,
    "rag-worker": 8002,
    "sender": 8003,
    "followup": 8004,
    "metrics": 8005,
    "console": 8006,
}


class Settings(BaseSettings):
    """Infrastructure and product settings shared by every service."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_file_encoding="utf-8")

    service_name: str = "wa"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/wa_assistant"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    redis_url: str = "redis://127.0.0.1:6379/0"
    log_level: str = "INFO"
    log_format: str = Field(default="auto", description="auto | json | console")

    # Isolation: every broker name and Redis key carries these prefixes (tests use random ones).
    broker_prefix: str = ""
    redis_prefix: str = "wa:"

    # apply pending migrations when a service starts (local and compose); Kubernetes sets it
    # false and runs them once in a Job before the rollout (`wa-migrate`)
    migrate_on_start: bool = True

    db_pool_min: int = 1
    db_pool_max: int = 10
    prefetch: int = 50
    # deliveries of one message (crash loops included) before it is dead-lettered
    delivery_limit: int = 5
    # handler-level retries with back-off before dead-lettering
    max_retries: int = 4
    retry_delays_ms: list[int] = Field(default_factory=lambda: [1000, 5000, 30000, 300000])
    publish_timeout_s: float = 10.0
    # an outage (database, Redis or broker not answering) pauses consumers instead of spending
    # retries: they ask the dependency again after outage_probe_min_s, doubling the wait up to
    # outage_probe_max_s, and resume when it answers; nothing is dead-lettered for an outage
    outage_probe_min_s: float = 0.5
    outage_probe_max_s: float = 5.0
    # a delivery held through a longer outage is parked back in its queue (uncounted); keep it
    # below the broker's consumer_timeout (30 min by default), which would close the channel
    outage_hold_s: float = 300.0
    # how long one readiness / outage probe of a dependency may take before it counts as down
    dependency_probe_timeout_s: float = 2.0
    # events held in memory while the database is unreachable; past it the oldest go to the log
    event_log_max_buffer: int = 100_000
    # per-conversation shard queues of each work queue (0: the single queues of old releases);
    # changing it on a live broker moves conversations between shards (docs/architecture.md)
    broker_shards: int = 8
    # this process's place among the replicas of its service (the supervisor sets both):
    # it consumes the shards i with i % REPLICA_COUNT == REPLICA_INDEX first, the rest as standby
    replica_index: int = 0
    replica_count: int = 1
    # a replica waits this long before standing by on the other replicas' shards
    shard_standby_delay_s: float = 3.0
    # a replica active on another replica's shard hands it back after this long
    shard_rebalance_s: float = 30.0

    http_host: str = "127.0.0.1"
    # request bodies past this are refused (413) before routing, on every port
    http_max_body_bytes: int = 4 * 1024 * 1024
    # the larger cap of the routes that take uploads (knowledge documents)
    http_max_upload_bytes: int = 25 * 1024 * 1024
    # when set, /metrics, /docs, /redoc and /openapi.json leave the service's port and are
    # served on INTERNAL_HTTP_HOST:INTERNAL_HTTP_PORT only (an interface the internet cannot reach)
    internal_http_port: int | None = None
    internal_http_host: str = "127.0.0.1"
    # HTTP_PORT wins; else the service's own variable; else the layout default 8000-8005
    http_port: int | None = None
    meta_gateway_port: int = 8000
    lancepilot_ingest_port: int = 8001
    rag_worker_port: int = 8002
    sender_port: int = 8003
    followup_port: int = 8004
    metrics_port: int = 8005

    # production (default) | local | test: only local and test may start with missing or
    # placeholder secrets (`make run` writes WA_ENV=local into .env; tests set test)
    wa_env: str = "production"
    admin_token: SecretStr | None = None
    # Fernet key (urlsafe base64 of 32 bytes) sealing secrets at rest; local mode also accepts
    # a passphrase from older .env files (hashed into a key, with a warning)
    encryption_key: SecretStr | None = None
    # comma-separated keys (or old passphrases) still accepted for decryption during a rotation
    encryption_old_keys: SecretStr = SecretStr("")
    public_base_url: str = "http://127.0.0.1:8001"

    # Meta
    meta_app_secret: SecretStr | None = None
    meta_verify_token: SecretStr | None = None
    meta_graph_url: str = "https://graph.facebook.com"
    meta_graph_version: str = "v23.0"
    meta_app_id: str | None = None
    # two-step verification PIN used when Embedded Signup registers a number (else generated)
    meta_register_pin: SecretStr | None = None

    # provider base URLs (tests and the local sandbox point them at fakes)
    lancepilot_url: str = "https://lancepilot.com/api/v3"
    # the takeover window of a `sending` row: older than this with no status webhook, a Meta
    # send is sent again and a Uazapi/LancePilot send is marked `unknown` (never resent).
    # Must exceed SEND_HTTP_TIMEOUT_S + SEND_RECORD_TIMEOUT_S (the sender refuses to start).
    send_reconcile_s: float = 60.0
    # the deadline of one provider call, counted from the claim (the claim follows the waits)
    send_http_timeout_s: float = 15.0
    # how long the record of an accepted send is retried through a database outage
    send_record_timeout_s: float = 30.0
    media_max_bytes: int = 16 * 1024 * 1024
    # untrusted files (PDFs) are parsed in a child process under these bounds
    parse_timeout_s: float = 20.0
    parse_max_memory_bytes: int = 768 * 1024 * 1024
    parse_concurrency: int = 2
    # a knowledge document's file past this is refused (413); keep it under HTTP_MAX_UPLOAD_BYTES
    knowledge_max_bytes: int = 20 * 1024 * 1024
    # knowledge documents past these caps are refused (422) rather than cut silently
    knowledge_max_pages: int = 2000
    knowledge_max_chars: int = 5_000_000

    @cached_property
    def port(self) -> int:
        if self.http_port:
            return self.http_port
        own = getattr(self, self.service_name.replace("-", "_") + "_port", None)
        return int(own) if own else SERVICE_PORTS.get(self.service_name, 8000)

    @property
    def local_mode(self) -> bool:
        """A developer's machine or a test run: placeholder secrets are tolerated."""
        return self.wa_env.strip().lower() in ("local", "test")

    def q(self, name: str) -> str:
        """A broker name (exchange or queue) with this deployment's prefix."""
        return f"{self.broker_prefix}{name}"

    def rkey(self, *parts: str) -> str:
        """A Redis key with this deployment's prefix."""
        return self.redis_prefix + ":".join(parts)
