"""`python -m waai.knowledge.ingest_cli --client ID PATH...`: import files or folders."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import asyncpg
from tqdm import tqdm

from waai.knowledge.embeddings import Embedders
from waai.knowledge.extract import (
    DocumentNotSupported,
    DocumentUnreadable,
    document_limits,
    source_kind,
)
from waai.knowledge.file_search import FileSearchSyncs
from waai.knowledge.ingest import ingest_document
from waai.llm.config import AISettings
from wacommon.infra.crypto import box_from_settings
from wacommon.infra.db import create_pool
from wacommon.infra.settings import Settings
from wacommon.repositories.clients import get_client


def collect(paths: list[str]) -> list[Path]:
    """The supported files named, or found (recursively) in the folders named."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(raw)
        candidates = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for candidate in candidates:
            try:
                source_kind(candidate.name)
            except DocumentNotSupported:
                if not path.is_dir():
                    raise
                continue
            found.append(candidate)
    return found


class UnknownClient(Exception):
    """The --client id names no tenant."""


async def run(settings: Settings, tenant_id: str, files: list[Path], *, prefix: str) -> int:
    """Ingest every file with a progress bar; returns the number of failures."""
    failures = 0
    pool = await create_pool(settings, min_size=1, max_size=2)
    try:
        try:
            tenant = await get_client(pool, tenant_id)
        except asyncpg.DataError:
            tenant = None
        if tenant is None:
            raise UnknownClient(tenant_id)
        box = box_from_settings(settings)
        ai = AISettings()
        syncs = FileSearchSyncs(ai, box.decrypt)
        tools = box.open(tenant["tools_config"] or {})
        limits = document_limits(settings)
        async with syncs.open(pool, tools) as sync, Embedders(ai, box.decrypt).open(tools) as emb:
            with tqdm(files, unit="file", desc="importing") as bar:
                for path in bar:
                    name = f"{prefix}{path.name}"
                    bar.set_postfix_str(name)
                    try:
                        doc = await ingest_document(
                            pool,
                            tenant_id,
                            name,
                            path.read_bytes(),
                            sync=sync,
                            limits=limits,
                            embedder=emb,
                        )
                    except (DocumentNotSupported, DocumentUnreadable, OSError) as exc:
                        failures += 1
                        tqdm.write(f"failed: {path}: {exc}")
                        continue
                    tqdm.write(f"{doc.name}: {doc.chunk_count} chunks ({doc.id})")
    finally:
        await pool.close()
    return failures


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, import, exit non-zero when a file failed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--client", required=True, help="tenant id (clients.id)")
    parser.add_argument("--prefix", default="", help="prepended to every document name")
    parser.add_argument(
        "paths", nargs="+", help="files (.txt .md .pdf .docx .csv .html) or folders"
    )
    args = parser.parse_args(argv)
    try:
        files = collect(args.paths)
    except DocumentNotSupported as exc:
        parser.error(f"unsupported file type: {exc}")
    except FileNotFoundError as exc:
        parser.error(f"no such file or folder: {exc}")
    if not files:
        parser.error("no supported files found")
    try:
        failures = asyncio.run(run(Settings(), args.client, files, prefix=args.prefix))
    except UnknownClient as exc:
        parser.error(f"no tenant with id {exc}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
