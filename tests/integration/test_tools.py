"""The built-in tools against a real database and fake HTTP services."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from tests.fakes.server import serve_in_thread
from tests.fakes.viacep_server import FakeViaCep
from waai.llm.config import AISettings
from waai.tools.catalog import build_toolbox
from waai.tools.registry import Toolbox, ToolContext
from wacommon.infra.crypto import SecretBox
from wacommon.repositories.event_types import TOOL_USED
from wacommon.repositories.events import FakeEventLog, PgEventLog

TZ = ZoneInfo("America/Sao_Paulo")
BOX = SecretBox("tools-test-key")


def next_weekday(weekday: int, *, after_days: int = 2) -> date:
    """The first `weekday` (0 = Monday) at least `after_days` from today in São Paulo."""
    day = datetime.now(TZ).date() + timedelta(days=after_days)
    while day.weekday() != weekday:
        day += timedelta(days=1)
    return day


async def new_tenant(pool: asyncpg.Pool, tools_config: dict[str, Any]) -> str:
    row = await pool.fetchrow(
        "INSERT INTO clients (name, tools_config) VALUES ($1, $2) RETURNING id",
        "Clínica Teste",
        tools_config,
    )
    assert row is not None
    return str(row["id"])


@pytest.fixture(scope="module")
def viacep() -> Iterator[FakeViaCep]:
    with FakeViaCep.serve() as fake:
        yield fake


class Env:
    """A tenant's toolbox and a way to make contexts for its customers."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        tenant_id: str,
        toolbox: Toolbox,
        http: httpx.AsyncClient,
        settings: AISettings,
    ) -> None:
        self.pool, self.tenant_id, self.toolbox = pool, tenant_id, toolbox
        self.http, self.settings = http, settings
        self.events = FakeEventLog()

    def ctx(self, contact: str = "5511999990001") -> ToolContext:
        return ToolContext(
            pool=self.pool,
            tenant_id=self.tenant_id,
            conversation_id=str(uuid.uuid4()),
            contact_key=contact,
            contact_name="Ana",
            timezone="America/Sao_Paulo",
            now=datetime.now(TZ),
            http=self.http,
            events=self.events,
            settings=self.settings,
            decrypt=BOX.decrypt,
        )

    async def call(
        self, tool: str, ctx: ToolContext | None = None, /, **args: Any
    ) -> dict[str, Any]:
        result = await self.toolbox.execute(ctx or self.ctx(), tool, json.dumps(args))
        return dict(json.loads(result.content))


async def make_env(
    pool: asyncpg.Pool, http: httpx.AsyncClient, tools_config: dict[str, Any], **settings: Any
) -> Env:
    tenant_id = await new_tenant(pool, tools_config)
    return Env(pool, tenant_id, build_toolbox(tools_config), http, AISettings(**settings))


CALENDAR = {
    "calendar": {
        "active": True,
        "slot_minutes": 60,
        "hours": {"seg": {"on": True, "start": "09:00", "end": "12:00"}, "ter": ["14:00", "16:00"]},
    }
}


async def test_tools_enabled_per_tenant(pool: asyncpg.Pool, http: httpx.AsyncClient) -> None:
    env = await make_env(pool, http, {**CALENDAR, "consultar_cep": True, "opt_out": False})
    names = {s.name for s in env.toolbox.specs}
    assert names == {
        "check_availability",
        "book_appointment",
        "cancel_appointment",
        "lookup_cep",
        "transfer_to_human",
    }
    assert {s.name for s in build_toolbox({}).specs} == {"transfer_to_human", "opt_out"}


async def test_availability_lists_business_hours_slots(
    pool: asyncpg.Pool, http: httpx.AsyncClient
) -> None:
    env = await make_env(pool, http, CALENDAR)
    monday = next_weekday(0)
    answer = await env.call("check_availability", date=monday.isoformat(), days=2)
    assert answer["ok"] is True
    assert answer["days"][0] == {
        "date": monday.isoformat(),
        "weekday": "segunda-feira",
        "free": ["09:00", "10:00", "11:00"],
    }
    assert answer["days"][1]["free"] == ["14:00", "15:00"]
    # a model may send a whole number as 2.0 (Gemini does): it still counts as an integer
    assert (await env.call("check_availability", date=monday.isoformat(), days=2.0)) == answer


async def test_booking_takes_the_slot_and_cancelling_frees_it(
    pool: asyncpg.Pool, http: httpx.AsyncClient
) -> None:
    env = await make_env(pool, http, CALENDAR)
    monday = next_weekday(0).isoformat()
    ctx = env.ctx()
    booked = await env.call("book_appointment", ctx, start=f"{monday} 10:00", name="Ana")
    assert booked["ok"] is True and booked["start"] == f"{monday} 10:00"
    free = (await env.call("check_availability", date=monday))["days"][0]["free"]
    assert free == ["09:00", "11:00"]
    again = await env.call("book_appointment", ctx, start=f"{monday} 10:00", name="Ana")
    assert again["appointment_id"] == booked["appointment_id"]  # a retried turn, not a new row
    other = await env.call(
        "cancel_appointment", env.ctx("5511000000000"), appointment_id=booked["appointment_id"]
    )
    assert other["error"] == "appointment_not_found"  # only the customer's own bookings
    cancelled = await env.call("cancel_appointment", ctx, reason="imprevisto")
    assert cancelled["ok"] is True and cancelled["appointment_id"] == booked["appointment_id"]
    free = (await env.call("check_availability", date=monday))["days"][0]["free"]
    assert free == ["09:00", "10:00", "11:00"]


async def test_concurrent_bookings_of_one_slot_book_it_once(
    pool: asyncpg.Pool, http: httpx.AsyncClient
) -> None:
    env = await make_env(pool, http, CALENDAR)
    start = f"{next_weekday(1).isoformat()} 14:00"
    results = await asyncio.gather(
        *[
            env.call("book_appointment", env.ctx(f"55119000000{i:02d}"), start=start, name=f"C{i}")
            for i in range(8)
        ]
    )
    assert sorted(r["ok"] for r in results) == [False] * 7 + [True]
    assert {r.get("error") for r in results if not r["ok"]} == {"slot_taken"}
    count = await pool.fetchval(
        "SELECT count(*) FROM appointments WHERE client_id = $1 AND status = 'booked'",
        env.tenant_id,
    )
    assert count == 1
    # another tenant's calendar is its own
    other = await make_env(pool, http, CALENDAR)
    assert (await other.call("book_appointment", start=start, name="X"))["ok"] is True


async def test_booking_outside_hours_or_in_the_past_is_refused(
    pool: asyncpg.Pool, http: httpx.AsyncClient
) -> None:
    env = await make_env(pool, http, CALENDAR)
    monday = next_weekday(0).isoformat()
    assert (await env.call("book_appointment", start=f"{monday} 13:00", name="A"))["error"] == (
        "outside_business_hours"
    )
    assert (await env.call("book_appointment", start=f"{monday} 09:30", name="A"))["error"] == (
        "outside_business_hours"
    )
    assert (await env.call("book_appointment", start="2020-01-06 09:00", name="A"))["error"] == (
        "in_the_past"
    )
    assert (await env.call("book_appointment", start="amanhã", name="A"))["error"] == (
        "invalid_date"
    )
    assert (await env.call("book_appointment", name="A"))["error"] == "invalid_arguments"
    assert [e["data"] for e in env.events.of_type(TOOL_USED)][-1] == {
        "tool": "book_appointment",
        "ok": False,
        "error": "invalid_arguments",
    }


async def test_cep_lookup_known_unknown_malformed_and_cached(
    pool: asyncpg.Pool, http: httpx.AsyncClient, viacep: FakeViaCep
) -> None:
    env = await make_env(pool, http, {"lookup_cep": {"active": True}}, viacep_url=viacep.url)
    before = len(viacep.calls)
    found = await env.call("lookup_cep", cep="01310-100")
    assert found["ok"] is True
    assert found["address"]["logradouro"] == "Avenida Paulista"
    assert found["address"]["localidade"] == "São Paulo"
    again = await env.call("lookup_cep", cep="01310100")
    assert again == found
    assert viacep.calls[before:] == ["01310100"]  # the second answer came from the cache
    unknown = await env.call("lookup_cep", cep="99999-999")
    assert unknown["error"] == "cep_not_found" and "99999-999" in unknown["message"]
    malformed = await env.call("lookup_cep", cep="0131-10")
    assert malformed["error"] == "malformed_cep" and "8" in malformed["message"]
    assert viacep.calls[before:] == ["01310100", "99999999"]
    cached = await pool.fetch(
        "SELECT cep, found FROM cep_cache WHERE client_id = $1 ORDER BY cep", env.tenant_id
    )
    assert [(r["cep"], r["found"]) for r in cached] == [("01310100", True), ("99999999", False)]


async def test_cep_service_down_is_a_tool_error(
    pool: asyncpg.Pool, http: httpx.AsyncClient
) -> None:
    env = await make_env(pool, http, {"lookup_cep": True}, viacep_url="http://127.0.0.1:9")
    assert (await env.call("lookup_cep", cep="01310100"))["error"] == "cep_service_unavailable"


class Echo:
    """A tenant's ERP: echoes requests, can answer big bodies or errors."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.app = FastAPI()

        @self.app.api_route("/{path:path}", methods=["GET", "POST"], response_model=None)
        async def any_path(path: str, request: Request) -> Any:
            body = await request.body()
            self.requests.append(
                {
                    "method": request.method,
                    "path": request.url.path,
                    "raw": request.scope["raw_path"].decode(),
                    "query": dict(request.query_params),
                    "auth": request.headers.get("authorization"),
                    "json": json.loads(body) if body else None,
                }
            )
            if path.startswith("big"):
                return PlainTextResponse("x" * 5000)
            if path.startswith("fail"):
                return JSONResponse({"detail": "pedido inexistente"}, status_code=404)
            return JSONResponse({"pedido": path, "status": "enviado"})


@pytest.fixture(scope="module")
def echo() -> Iterator[tuple[Echo, str]]:
    erp = Echo()
    with serve_in_thread(erp.app) as server:
        yield erp, server.url


def custom(name: str, url: str, method: str = "GET") -> dict[str, Any]:
    return {
        "name": name,
        "description": "Consulta pedido no ERP",
        "method": method,
        "url": url,
        "headers": {"Authorization": BOX.encrypt("Bearer erp-secret")},
        "parameters": {
            "type": "object",
            "properties": {"numero": {"type": "string"}, "loja": {"type": "string"}},
            "required": ["numero"],
        },
    }


async def test_custom_http_tool_fills_the_url_and_decrypts_headers(
    pool: asyncpg.Pool, http: httpx.AsyncClient, echo: tuple[Echo, str]
) -> None:
    erp, url = echo
    env = await make_env(
        pool,
        http,
        {
            "custom_tools": [
                custom("consultar_pedido", url + "/pedidos/{numero}"),
                custom("criar_pedido", url + "/novo", "POST"),
            ]
        },
        tool_allowed_hosts=frozenset({"127.0.0.1"}),
    )
    got = await env.call("consultar_pedido", numero="12/3 x", loja="centro")
    assert got == {
        "ok": True,
        "status": 200,
        "truncated": False,
        "body": {"pedido": "pedidos/12/3 x", "status": "enviado"},
    }
    assert erp.requests[-1]["raw"] == "/pedidos/12%2F3%20x"
    assert erp.requests[-1]["query"] == {"loja": "centro"}
    assert erp.requests[-1]["auth"] == "Bearer erp-secret"
    posted = await env.call("criar_pedido", numero="9", loja="sul")
    assert posted["ok"] is True
    assert erp.requests[-1]["json"] == {"numero": "9", "loja": "sul"}


async def test_custom_http_tool_response_is_truncated(
    pool: asyncpg.Pool, http: httpx.AsyncClient, echo: tuple[Echo, str]
) -> None:
    _, url = echo
    env = await make_env(
        pool,
        http,
        {
            "custom_tools": [
                custom("grande", url + "/big/{numero}"),
                custom("falha", url + "/fail/{numero}"),
            ]
        },
        tool_allowed_hosts=frozenset({"127.0.0.1"}),
        custom_tool_max_bytes=300,
    )
    got = await env.call("grande", numero="1")
    assert got["truncated"] is True and got["body"] == "x" * 300
    failed = await env.call("falha", numero="1")
    assert failed["error"] == "http_404" and "pedido inexistente" in failed["message"]


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/pedidos/{numero}",
        "https://localhost/pedidos/{numero}",
        "https://10.1.2.3/pedidos/{numero}",
        "https://169.254.169.254/latest/meta-data/{numero}",
        "https://[::1]/pedidos/{numero}",
        "https://[::ffff:192.168.0.1]/pedidos/{numero}",
        "http://erp.example.com/pedidos/{numero}",
        "ftp://erp.example.com/{numero}",
    ],
)
async def test_custom_http_tool_refuses_private_and_plain_http_urls(
    pool: asyncpg.Pool, http: httpx.AsyncClient, url: str
) -> None:
    env = await make_env(pool, http, {"custom_tools": [custom("consultar_pedido", url)]})
    got = await env.call("consultar_pedido", numero="1")
    assert got["ok"] is False and got["error"] == "url_blocked"
    assert env.events.of_type(TOOL_USED)[-1]["data"] == {
        "tool": "consultar_pedido",
        "ok": False,
        "error": "url_blocked",
    }


async def test_invalid_custom_tools_are_skipped(
    pool: asyncpg.Pool, http: httpx.AsyncClient
) -> None:
    box = build_toolbox(
        {
            "custom_tools": [
                {"name": "bad name!", "url": "https://x.example"},
                {"name": "lookup_cep", "url": "https://x.example"},
                {"name": "sem_url"},
                {"name": "host_livre", "url": "https://{host}.example/x"},
                {"name": "desligada", "url": "https://x.example", "active": False},
                {"name": "boa", "url": "https://x.example", "method": "post"},
            ]
        }
    )
    assert [s.name for s in box.specs] == ["transfer_to_human", "opt_out", "boa"]


async def test_crm_upserts_lead_adds_note_and_calls_the_webhook(
    pool: asyncpg.Pool, http: httpx.AsyncClient, echo: tuple[Echo, str]
) -> None:
    erp, url = echo
    env = await make_env(
        pool,
        http,
        {
            "crm": {
                "active": True,
                "webhook_url": url + "/crm",
                "webhook_headers": {"Authorization": BOX.encrypt("Bearer crm-secret")},
            }
        },
        tool_allowed_hosts=frozenset({"127.0.0.1"}),
    )
    ctx = env.ctx("5511988887777")
    first = await env.call("crm_upsert_lead", ctx, email="ana@example.com", interest="implante")
    assert first["ok"] is True and first["webhook"] == "sent"
    second = await env.call("crm_upsert_lead", ctx, stage="qualified")
    assert second["lead_id"] == first["lead_id"]
    await env.call("crm_add_note", ctx, note="Prefere manhãs")
    lead = await pool.fetchrow("SELECT * FROM leads WHERE client_id = $1", env.tenant_id)
    assert lead is not None
    assert (lead["name"], lead["email"], lead["interest"], lead["stage"]) == (
        "Ana",
        "ana@example.com",
        "implante",
        "qualified",
    )
    notes = await pool.fetch("SELECT note FROM lead_notes WHERE client_id = $1", env.tenant_id)
    assert [n["note"] for n in notes] == ["Prefere manhãs"]
    hook = erp.requests[-1]
    assert hook["path"] == "/crm" and hook["auth"] == "Bearer crm-secret"
    assert hook["json"]["event"] == "lead.note_added" and hook["json"]["note"] == "Prefere manhãs"


async def test_crm_webhook_to_a_private_host_is_skipped_not_fatal(
    pool: asyncpg.Pool, http: httpx.AsyncClient
) -> None:
    env = await make_env(pool, http, {"crm": {"webhook_url": "https://127.0.0.1/crm"}})
    got = await env.call("crm_upsert_lead", name="Bia")
    assert got["ok"] is True and got["webhook"] == "failed"


async def test_tool_use_is_written_to_the_event_log(
    pool: asyncpg.Pool, http: httpx.AsyncClient
) -> None:
    env = await make_env(pool, http, CALENDAR)
    ctx = env.ctx()
    ctx.events = PgEventLog(pool)
    await env.call("check_availability", ctx)
    await env.call("nao_existe", ctx)
    rows = await pool.fetch(
        "SELECT data FROM conversation_events WHERE client_id = $1 AND event_type = $2 ORDER BY id",
        env.tenant_id,
        TOOL_USED,
    )
    assert [r["data"] for r in rows] == [
        {"tool": "check_availability", "ok": True},
        {"tool": "nao_existe", "ok": False, "error": "unknown_tool"},
    ]


@pytest.mark.parametrize("walk", ["..", ".", " .. "])
async def test_a_dot_segment_from_the_model_cannot_walk_the_tenants_path(
    pool: asyncpg.Pool, http: httpx.AsyncClient, echo: tuple[Echo, str], walk: str
) -> None:
    # /v1/customers/{numero}/orders with numero=".." became /v1/orders, with the tenant's key
    erp, url = echo
    env = await make_env(
        pool,
        http,
        {"custom_tools": [custom("pedidos", url + "/v1/customers/{numero}/orders")]},
        tool_allowed_hosts=frozenset({"127.0.0.1"}),
    )
    before = len(erp.requests)
    got = await env.call("pedidos", numero=walk)
    assert got["ok"] is False and got["error"] == "invalid_arguments"
    assert erp.requests[before:] == []
    fine = await env.call("pedidos", numero="..x")
    assert fine["ok"] is True and erp.requests[-1]["path"] == "/v1/customers/..x/orders"


async def test_server_side_placeholders_are_filled_by_the_conversation_not_the_model(
    pool: asyncpg.Pool, http: httpx.AsyncClient, echo: tuple[Echo, str]
) -> None:
    # a prompt-injected customer must not reach another customer's records
    erp, url = echo
    tool = custom("meus_pedidos", url + "/clientes/{contact_phone}/pedidos/{conversation_id}")
    tool["parameters"] = {
        "type": "object",
        "properties": {"contact_phone": {"type": "string"}, "loja": {"type": "string"}},
    }
    env = await make_env(
        pool, http, {"custom_tools": [tool]}, tool_allowed_hosts=frozenset({"127.0.0.1"})
    )
    (spec,) = [s for s in env.toolbox.specs if s.name == "meus_pedidos"]
    assert "contact_phone" not in json.dumps(spec.parameters)
    ctx = env.ctx("5511999990001")
    got = await env.call(
        "meus_pedidos", ctx, contact_phone="5511888880000", conversation_id="x", loja="sul"
    )
    assert got["ok"] is True
    assert erp.requests[-1]["path"] == f"/clientes/5511999990001/pedidos/{ctx.conversation_id}"
    assert erp.requests[-1]["query"] == {"loja": "sul"}
