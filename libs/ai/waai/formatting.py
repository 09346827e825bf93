"""Shape a model's answer for WhatsApp: its formatting, bubbles, and copyable content alone."""

from __future__ import annotations

import re

DEFAULT_MAX_CHARS = 1000
MAX_COPY_BUBBLES = 3

_CODE_BLOCK = re.compile(r"```[^\n]*\n?(.*?)```", re.S)
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)[^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)[^)]*\)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.M)
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ITALIC = re.compile(r"(?<![*\w])\*(?=[^\s*])([^*\n]+?)(?<=[^\s*])\*(?![*\w])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_BULLET = re.compile(r"^(\s*)[*+]\s+", re.M)
_RULE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$", re.M)
_HOLD = "\x00{}\x00"
_HELD = re.compile(r"\x00(\d+)\x00")

_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_EVP = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
_TRACKING = re.compile(r"\b[A-Z]{2}\d{9}[A-Z]{2}\b")
_CEP = re.compile(r"\b\d{5}-\d{3}\b|(?<=CEP[:\s])\s*\d{8}\b", re.I)
_PIX_LABEL = re.compile(r"chave\s+pix", re.I)
# a CPF, CNPJ or phone number used as a Pix key (e-mail and random keys are found anyway)
_PIX_NUMBER = re.compile(r"\+?\d[\d.\-/]{9,}\d")


def to_whatsapp(markdown: str) -> str:
    """Markdown to WhatsApp formatting: *bold*, _italic_, ~strike~, links as text + URL."""
    held: list[str] = []

    def hold(text: str) -> str:
        held.append(text)
        return _HOLD.format(len(held) - 1)

    text = _CODE_BLOCK.sub(lambda m: hold("```" + m.group(1).strip("\n") + "```"), markdown)
    text = _INLINE_CODE.sub(lambda m: hold("`" + m.group(1) + "`"), text)
    text = _IMAGE.sub(lambda m: hold(m.group(2)), text)
    text = _LINK.sub(lambda m: hold(_link(m.group(1), m.group(2))), text)
    text = _RULE.sub("", text)
    text = _BULLET.sub(r"\1- ", text)
    text = _ITALIC.sub(r"_\1_", text)
    text = _BOLD.sub(r"*\2*", text)
    text = _STRIKE.sub(r"~\1~", text)
    text = _HEADING.sub(lambda m: "*" + m.group(1).strip("*").strip() + "*", text)
    text = _HELD.sub(lambda m: held[int(m.group(1))], text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _link(label: str, url: str) -> str:
    if label.strip().rstrip("/") == url.rstrip("/") or url.startswith("mailto:"):
        return label.strip()
    return f"{label.strip()}: {url}"


def split_bubbles(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> list[str]:
    """Split at paragraph boundaries, packing paragraphs up to `max_chars` per bubble."""
    bubbles: list[str] = []
    current = ""
    for para in (p.strip() for p in re.split(r"\n\s*\n", text)):
        if not para:
            continue
        for piece in _pieces(para, max_chars):
            if current and len(current) + 2 + len(piece) > max_chars:
                bubbles.append(current)
                current = piece
            else:
                current = f"{current}\n\n{piece}" if current else piece
    if current:
        bubbles.append(current)
    return bubbles


def _pieces(paragraph: str, max_chars: int) -> list[str]:
    """A paragraph too long for one bubble, cut at sentence ends, else at spaces."""
    if len(paragraph) <= max_chars:
        return [paragraph]
    pieces: list[str] = []
    current = ""
    for unit in _units(paragraph, max_chars):
        if current and len(current) + 1 + len(unit) > max_chars:
            pieces.append(current)
            current = unit
        else:
            current = f"{current} {unit}" if current else unit
    if current:
        pieces.append(current)
    return pieces


def _units(paragraph: str, max_chars: int) -> list[str]:
    units: list[str] = []
    for sentence in re.split(r"(?<=[.!?])\s+", paragraph):
        while len(sentence) > max_chars:
            cut = sentence.rfind(" ", 0, max_chars)
            cut = cut if cut > 0 else max_chars
            units.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if sentence:
            units.append(sentence)
    return units


def copyable(text: str) -> list[str]:
    """Values the customer will want to copy: Pix keys, tracking codes, CEPs, e-mails."""
    found: list[tuple[int, str]] = []
    for label in _PIX_LABEL.finditer(text):
        number = _PIX_NUMBER.search(text, label.end(), label.end() + 80)
        if number is not None:
            found.append((number.start(), number.group(0)))
    for pattern in (_INLINE_CODE, _EVP, _TRACKING, _CEP, _EMAIL):
        for match in pattern.finditer(text):
            value = (match.group(1) if pattern is _INLINE_CODE else match.group(0)).strip()
            found.append((match.start(), value.strip("`.,;:")))
    values: list[str] = []
    for _, value in sorted(found):
        if value and not any(value in v or v in value for v in values):
            values.append(value)
    return values[:MAX_COPY_BUBBLES]


def shape_reply(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> list[str]:
    """The bubbles to send: formatted, split, each copyable value right after its bubble."""
    out: list[str] = []
    sent: set[str] = set()
    for bubble in split_bubbles(to_whatsapp(text), max_chars):
        out.append(bubble)
        for value in copyable(bubble):
            plain = value.strip("`")
            if plain not in sent and plain != bubble.strip():
                out.append(plain)
                sent.add(plain)
    return out
