"""The bodies of the owner's Meta channel routes, with messages in Portuguese naming what is
wrong (a 422 lists each field; the page puts each message under its field)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from wacommon.console.users import normalize_email
from wacommon.providers.meta.admin import VERTICALS

GRAPH_ID = re.compile(r"\d{1,32}")
PIN = re.compile(r"\d{6}")
TEMPLATE_NAME = re.compile(r"[a-z0-9_]{1,512}")
LANGUAGE = re.compile(r"[a-z]{2,3}(_[A-Z]{2})?")
PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
# Meta's limits for a business profile and a template's parts
PROFILE_LIMITS = {"about": 139, "address": 256, "description": 512, "email": 128}
BODY_MAX, HEADER_MAX, FOOTER_MAX = 1024, 60, 60


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError("invalid", message)


def _graph_id(value: str) -> str:
    if not GRAPH_ID.fullmatch(value):
        raise _fail("deve ser o identificador numérico que a Meta enviou")
    return value


def _pin(value: str) -> str:
    if not PIN.fullmatch(value.strip()):
        raise _fail("o PIN deve ter exatamente 6 dígitos (só números)")
    return value.strip()


GraphId = Annotated[str, AfterValidator(_graph_id)]


class SignupIn(BaseModel):
    """What FB.login's callback (`code`) and the WA_EMBEDDED_SIGNUP message (ids) carried."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=4096)
    waba_id: GraphId
    phone_number_id: GraphId
    event: str | None = Field(default=None, max_length=64, pattern=r"^[A-Z_]+$")


class SandboxSignupIn(BaseModel):
    """What the offline imitation's dialog asks (Facebook's popup asks the same)."""

    model_config = ConfigDict(extra="forbid")

    verified_name: str = Field(default="Minha Empresa", min_length=1, max_length=100)
    display_phone_number: str = ""

    @model_validator(mode="after")
    def _digits(self) -> SandboxSignupIn:
        digits = re.sub(r"[\s()+\-.]", "", self.display_phone_number)
        if digits and not re.fullmatch(r"[1-9]\d{7,14}", digits):
            raise _fail("número inválido: use o formato internacional, só dígitos")
        self.display_phone_number = digits
        return self


class RegisterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pin: Annotated[str, AfterValidator(_pin)]


def _limit(name: str) -> Any:
    limit = PROFILE_LIMITS[name]

    def check(value: str) -> str:
        value = value.strip()
        if len(value) > limit:
            raise _fail(f"no máximo {limit} caracteres (tem {len(value)})")
        return value

    return AfterValidator(check)


def _email(value: str) -> str:
    value = value.strip()
    if not value:
        return value
    try:
        return normalize_email(value)
    except ValueError:
        raise _fail("e-mail inválido (ex.: contato@minhaloja.com.br)") from None


def _websites(value: str | list[str]) -> list[str]:
    items = value if isinstance(value, list) else re.split(r"[\s,]+", value)
    sites = [s.strip() for s in items if s.strip()]
    if len(sites) > 2:
        raise _fail("no máximo 2 sites")
    for site in sites:
        if not re.fullmatch(r"https?://[^\s/$.?#][^\s]{0,255}", site):
            raise _fail(f"endereço inválido: {site[:80]} (comece com https://)")
    return sites


def _vertical(value: str) -> str:
    if value and value not in VERTICALS:
        raise _fail("categoria desconhecida")
    return value


class ProfileIn(BaseModel):
    """The business profile form; an empty field is left as Meta holds it."""

    model_config = ConfigDict(extra="forbid")

    about: Annotated[str, _limit("about")] = ""
    address: Annotated[str, _limit("address")] = ""
    description: Annotated[str, _limit("description")] = ""
    email: Annotated[str, Field(max_length=PROFILE_LIMITS["email"]), AfterValidator(_email)] = ""
    websites: Annotated[str | list[str], AfterValidator(_websites)] = ""
    vertical: Annotated[str, AfterValidator(_vertical)] = ""

    def graph_fields(self) -> dict[str, Any]:
        """The fields to send to Graph (empty ones left out: Graph cannot clear with them)."""
        return {k: v for k, v in self.model_dump().items() if v not in ("", [], None)}


def _template_name(value: str) -> str:
    value = value.strip()
    if not TEMPLATE_NAME.fullmatch(value):
        raise _fail("use só letras minúsculas, números e _ (ex.: lembrete_pedido)")
    return value


def _language(value: str) -> str:
    value = value.strip()
    if not LANGUAGE.fullmatch(value):
        raise _fail("código de idioma inválido (ex.: pt_BR, en_US, es)")
    return value


def _body(value: str) -> str:
    value = value.strip()
    if not value:
        raise _fail("escreva o texto da mensagem")
    if len(value) > BODY_MAX:
        raise _fail(f"no máximo {BODY_MAX} caracteres (tem {len(value)})")
    names = PLACEHOLDER.findall(value)
    if any(not n.isdigit() for n in names):
        raise _fail("use variáveis numeradas: {{1}}, {{2}}, ...")
    numbers = sorted({int(n) for n in names})
    if numbers != list(range(1, len(numbers) + 1)):
        raise _fail("numere as variáveis em sequência a partir de {{1}}")
    return value


def _short(limit: int) -> Any:
    def check(value: str) -> str:
        value = value.strip()
        if len(value) > limit:
            raise _fail(f"no máximo {limit} caracteres (tem {len(value)})")
        if PLACEHOLDER.search(value):
            raise _fail("variáveis {{1}} só no texto da mensagem")
        return value

    return AfterValidator(check)


class TemplateIn(BaseModel):
    """A text template as the form shapes it; `components()` is Graph's wire form."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, AfterValidator(_template_name)]
    language: Annotated[str, AfterValidator(_language)] = "pt_BR"
    category: Literal["MARKETING", "UTILITY"] = "UTILITY"
    header: Annotated[str, _short(HEADER_MAX)] = ""
    body: Annotated[str, AfterValidator(_body)]
    footer: Annotated[str, _short(FOOTER_MAX)] = ""
    # one example value per {{n}} of the body: Meta reviews a template with its examples
    examples: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=20
    )

    @model_validator(mode="after")
    def _one_example_each(self) -> TemplateIn:
        numbers = sorted({int(n) for n in PLACEHOLDER.findall(self.body)})
        if len(self.examples) < len(numbers):
            self.examples = self.examples + [f"exemplo {n}" for n in numbers[len(self.examples) :]]
        self.examples = self.examples[: len(numbers)]
        return self

    def components(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self.header:
            out.append({"type": "HEADER", "format": "TEXT", "text": self.header})
        body: dict[str, Any] = {"type": "BODY", "text": self.body}
        if self.examples:
            body["example"] = {"body_text": [self.examples]}
        out.append(body)
        if self.footer:
            out.append({"type": "FOOTER", "text": self.footer})
        return out

    def graph_body(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "language": self.language,
            "category": self.category,
            "components": self.components(),
        }
