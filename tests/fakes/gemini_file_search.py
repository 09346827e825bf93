"""File Search store endpoints for the fake Gemini API: stores, resumable upload, operations."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from tests.fakes.gemini_server import FakeGemini
from tests.fakes.server import serve_in_thread


@dataclass
class RemoteDocument:
    """A document in a fake store: what the SDK uploaded."""

    name: str
    display_name: str
    mime_type: str
    data: bytes


@dataclass
class FakeFileSearch:
    """The state of the fake File Search API; tests read it and script failures."""

    stores: dict[str, str] = field(default_factory=dict)  # name -> display name
    documents: dict[str, RemoteDocument] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    polls: int = 0
    # every File Search endpoint answers this HTTP status while set (None: work normally)
    failing: int | None = None
    _sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    _operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def in_store(self, store: str) -> list[RemoteDocument]:
        """The documents of one store."""
        return [d for n, d in self.documents.items() if n.startswith(store + "/documents/")]


def _error(status: int, message: str = "scripted error") -> JSONResponse:
    return JSONResponse(
        {"error": {"code": status, "message": message, "status": "FAKE"}}, status_code=status
    )


def add_file_search_routes(app: FastAPI, state: FakeFileSearch, base_url: list[str]) -> None:
    """Serve the File Search endpoints the google-genai SDK calls on `app`, backed by `state`.

    `base_url` is a one-item list filled in once the server knows its address (upload URLs).
    """

    @app.post("/{version}/fileSearchStores")
    async def create_store(version: str, request: Request) -> JSONResponse:
        if state.failing:
            return _error(state.failing)
        body = await request.json()
        name = f"fileSearchStores/store-{next(state._ids)}"
        display = body.get("displayName", body.get("display_name", ""))
        state.stores[name] = display
        state.created.append(name)
        return JSONResponse({"name": name, "displayName": display})

    @app.post("/upload/{version}/fileSearchStores/{target}")
    async def start_upload(version: str, target: str, request: Request) -> Response:
        store_id, _, action = target.partition(":")
        store = f"fileSearchStores/{store_id}"
        if action != "uploadToFileSearchStore":
            return _error(404, "not faked")
        if state.failing:
            return _error(state.failing)
        if store not in state.stores:
            return _error(404, "store not found")
        if request.headers.get("x-goog-upload-command") != "start":
            return _error(400, "expected a resumable upload start")
        body = await request.json()
        session = f"s{next(state._ids)}"
        state._sessions[session] = {
            "store": store,
            "display_name": body.get("displayName", ""),
            "mime_type": body.get("mimeType")
            or request.headers.get("x-goog-upload-header-content-type", ""),
            "data": b"",
        }
        url = f"{base_url[0]}/fake-upload/{session}"
        return JSONResponse({}, headers={"x-goog-upload-url": url})

    @app.post("/fake-upload/{session}")
    async def upload_bytes(session: str, request: Request) -> Response:
        upload = state._sessions.get(session)
        if upload is None:
            return _error(404, "no upload session")
        upload["data"] += await request.body()
        if "finalize" not in request.headers.get("x-goog-upload-command", ""):
            return JSONResponse({}, headers={"x-goog-upload-status": "active"})
        del state._sessions[session]
        doc = f"{upload['store']}/documents/doc-{next(state._ids)}"
        state.documents[doc] = RemoteDocument(
            doc, upload["display_name"], upload["mime_type"], upload["data"]
        )
        op = f"{upload['store']}/upload/operations/op-{next(state._ids)}"
        # not done yet: the client has to poll the operation once
        state._operations[op] = {"name": op, "done": True, "response": {"documentName": doc}}
        return JSONResponse({"name": op, "done": False}, headers={"x-goog-upload-status": "final"})

    @app.get("/{version}/fileSearchStores/{store_id}/upload/operations/{op_id}")
    async def get_operation(version: str, store_id: str, op_id: str) -> JSONResponse:
        state.polls += 1
        op = state._operations.get(f"fileSearchStores/{store_id}/upload/operations/{op_id}")
        return JSONResponse(op) if op else _error(404, "no such operation")

    @app.delete("/{version}/fileSearchStores/{store_id}/documents/{doc_id}")
    async def delete_document(version: str, store_id: str, doc_id: str) -> JSONResponse:
        if state.failing:
            return _error(state.failing)
        name = f"fileSearchStores/{store_id}/documents/{doc_id}"
        if state.documents.pop(name, None) is None:
            return _error(404, "document not found")
        state.deleted.append(name)
        return JSONResponse({})


@contextmanager
def serve_gemini_with_file_search() -> Iterator[tuple[FakeGemini, FakeFileSearch]]:
    """A fresh fake Gemini (generateContent as in gemini_server) plus File Search stores."""
    fake = FakeGemini()
    state = FakeFileSearch()
    base: list[str] = [""]
    add_file_search_routes(fake.app, state, base)
    with serve_in_thread(fake.app) as server:
        fake.url = base[0] = server.url
        yield fake, state
