"""What reading a tenant's configuration costs per message, before and after the TenantDirectory.

Before: every burst opened (decrypted) the tenant's `tools_config` and the helpers parsed
their keys again (rag-worker), or the row was re-read every 5 s (ingest, sender). Now the
directory parses a tenant once per change and a message reads the cached TenantConfig.
No database: the figures are the CPU of the Python work per message.

    .venv/bin/python bench/tenant_config.py --n 20000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path[:] = [p for p in sys.path if Path(p).resolve() != Path(__file__).resolve().parent]

from wacommon.infra.crypto import SecretBox, generate_key  # noqa: E402
from wacommon.tenants.config import parse_tenant  # noqa: E402

TOOLS: dict[str, Any] = {
    "llm_config": {"provider": "openai", "api_key": "sk-tenant-key", "history_messages": 12},
    "debounce": {"quiet_seconds": 4, "max_wait_seconds": 20, "flush_keywords": ["pronto"]},
    "business_hours": {"active": True, "schedule": {"seg": {"start": "08:00", "end": "18:00"}}},
    "commands": {"customer_can_resume": True},
    "security_lists": {"blocked_numbers": ["5511999990000"]},
    "custom_tools": [{"name": "estoque", "url": "https://erp.example/api", "headers": {"X": "k"}}],
    "consultar_cep": True,
}


def per_call_us(fn: Any, n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20000)
    args = parser.parse_args()
    box = SecretBox(generate_key())
    row = {"id": "t", "name": "Loja", "tools_config": box.seal(TOOLS)}
    cache = {"t": parse_tenant(row, box.open)}
    opened = per_call_us(lambda: box.open(row["tools_config"]), args.n)
    parsed = per_call_us(lambda: parse_tenant(row, box.open), max(1, args.n // 4))
    hit = per_call_us(lambda: cache["t"], args.n)
    print(f"open sealed tools_config (before: per rag-worker burst): {opened:8.1f} us")
    print(f"parse_tenant incl. open (now: once per change):          {parsed:8.1f} us")
    print(f"cache hit, the dict lookup of PgTenantDirectory.get:     {hit:8.2f} us")


if __name__ == "__main__":
    main()
