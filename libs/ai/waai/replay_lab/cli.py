"""`make replay-lab ARGS="--client ID --last 200 --prompt-file new.txt"`: try a configuration
on the tenant's latest real conversations and print old and new replies side by side.

Nothing is sent to anyone and nothing is written (waai.replay_lab.runner). Exit status: 0
done, 2 bad arguments or a candidate that cannot run (no key for the provider asked for).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from pathlib import Path

from waai.llm.config import AISettings
from waai.replay_lab.candidate import (
    KNOWLEDGE_CHOICES,
    MAX_PROMPT_CHARS,
    Candidate,
    CandidateInvalid,
)
from waai.replay_lab.report import as_json, as_text
from waai.replay_lab.runner import LabDeps, LabLimits, LabReport, TenantNotFound, run_lab
from wacommon.infra.crypto import box_from_settings
from wacommon.infra.db import create_pool
from wacommon.infra.logging import configure_logging
from wacommon.metrics.prices import PricedSettings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="replay-lab", description=__doc__)
    parser.add_argument("--client", required=True, help="tenant id (clients.id)")
    parser.add_argument(
        "--last", type=int, default=20, help="the latest N real conversations (max 500)"
    )
    parser.add_argument(
        "--turns", type=int, default=5, help="the last turns of each conversation (max 20)"
    )
    parser.add_argument("--prompt-file", help="the candidate prompt (replaces the persona)")
    parser.add_argument("--provider", help="openai, gemini, openrouter, openai_compatible")
    parser.add_argument("--model", help="the candidate model")
    parser.add_argument("--knowledge", choices=KNOWLEDGE_CHOICES, default="current")
    parser.add_argument("--concurrency", type=int, default=4, help="turns at a time (max 8)")
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds per turn")
    parser.add_argument("--json", action="store_true", help="the report as JSON")
    return parser


def _prompt(parser: argparse.ArgumentParser, path: str | None) -> str | None:
    if path is None:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        parser.error(f"cannot read the prompt file: {exc}")
    if not text or len(text) > MAX_PROMPT_CHARS:
        parser.error(f"the prompt file must hold 1 to {MAX_PROMPT_CHARS} characters")
    return text


async def _run(
    settings: PricedSettings, tenant_id: str, candidate: Candidate, limits: LabLimits
) -> LabReport:
    ai = AISettings()
    deps = LabDeps.of(ai, box_from_settings(settings), settings.metrics_prices)
    pool = await create_pool(settings, min_size=1, max_size=limits.concurrency + 1)
    try:
        return await run_lab(pool, tenant_id, candidate, limits, deps)
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the lab, print the report."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        tenant_id = str(uuid.UUID(args.client))
    except ValueError:
        parser.error(f"--client is not a tenant id: {args.client!r}")
    try:
        limits = LabLimits(
            conversations=args.last,
            turns_per_conversation=args.turns,
            concurrency=args.concurrency,
            turn_timeout_s=args.timeout,
        )
    except ValueError as exc:
        parser.error(str(exc))
    candidate = Candidate(
        prompt=_prompt(parser, args.prompt_file),
        provider=args.provider,
        model=args.model,
        knowledge=args.knowledge,
    )
    settings = PricedSettings(service_name="replay-lab")
    # logs on stderr: stdout is the report (`--json` pipes into jq)
    configure_logging(settings)
    try:
        report = asyncio.run(_run(settings, tenant_id, candidate, limits))
    except TenantNotFound:
        print(f"no such tenant: {tenant_id}", file=sys.stderr)
        return 2
    except CandidateInvalid as exc:
        print(f"the candidate cannot run: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(as_json(report), ensure_ascii=False, indent=2))
    else:
        print(as_text(report))
    return 0
