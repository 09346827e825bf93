"""A fake ViaCEP on loopback: `/ws/{cep}/json/` with ViaCEP's answers for known, unknown, malformed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse

from tests.fakes.server import serve_in_thread

KNOWN = {
    "01310100": {
        "cep": "01310-100",
        "logradouro": "Avenida Paulista",
        "complemento": "de 612 a 1510 - lado par",
        "bairro": "Bela Vista",
        "localidade": "São Paulo",
        "uf": "SP",
        "ibge": "3550308",
        "ddd": "11",
    },
}


class FakeViaCep:
    """Answers known CEPs, `{"erro": "true"}` for unknown ones and 400 for malformed; counts calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.url = ""
        self.app = FastAPI()

        @self.app.get("/ws/{cep}/json/", response_model=None)
        async def lookup(cep: str) -> Any:
            self.calls.append(cep)
            if not re.fullmatch(r"\d{8}", cep):
                return HTMLResponse("<h2>Bad Request (400)</h2>", status_code=400)
            if cep in KNOWN:
                return JSONResponse(KNOWN[cep])
            return JSONResponse({"erro": "true"})

    @classmethod
    @contextmanager
    def serve(cls) -> Iterator[FakeViaCep]:
        """Run a fresh fake on a free loopback port."""
        fake = cls()
        with serve_in_thread(fake.app) as server:
            fake.url = server.url
            yield fake
