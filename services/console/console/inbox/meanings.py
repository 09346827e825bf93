"""What a failed send's code means, in Portuguese, for the attendant reading the thread.

Meta's codes (Cloud API error codes) and the sender's own codes (`no_credentials`, ...).
"""

from __future__ import annotations

MEANINGS: dict[str, str] = {
    "131047": "Janela de 24 horas fechada: só um modelo aprovado (template) pode ser enviado.",
    "131026": "Mensagem não entregue: o número pode não ter WhatsApp ou não aceitar mensagens.",
    "131051": "Tipo de mensagem não suportado.",
    "131052": "O WhatsApp não conseguiu baixar o arquivo enviado pelo cliente.",
    "131053": "O WhatsApp não aceitou o arquivo (formato ou tamanho inválido).",
    "131021": "O destinatário é o próprio número da empresa.",
    "131031": "A conta do WhatsApp Business está bloqueada.",
    "131042": "Problema de pagamento na conta do WhatsApp Business.",
    "131045": "O número da empresa não está registrado corretamente.",
    "131049": "O WhatsApp limitou mensagens de empresas para este cliente; tente mais tarde.",
    "131050": "O cliente pediu para não receber mensagens de marketing desta empresa.",
    "131056": "Muitas mensagens para este cliente em pouco tempo; tente mais tarde.",
    "130429": "Limite de envio do número atingido; tente mais tarde.",
    "132000": "Os parâmetros não correspondem ao modelo (template).",
    "132001": "O modelo (template) não existe neste idioma ou não foi aprovado.",
    "132005": "O texto do modelo ficou longo demais com os parâmetros.",
    "132007": "O modelo viola a política de conteúdo do WhatsApp.",
    "132012": "O formato dos parâmetros do modelo está errado.",
    "132015": "O modelo está pausado pela Meta por baixa qualidade.",
    "132016": "O modelo foi desativado pela Meta.",
    "133010": "O número da empresa não está registrado no WhatsApp.",
    "368": "A conta foi temporariamente bloqueada por violar políticas do WhatsApp.",
    "190": "O token de acesso do número expirou ou é inválido: reconecte o canal.",
    "100": "Parâmetro inválido no envio.",
    "no_credentials": "O canal do WhatsApp desta conta não está configurado.",
    "daily_cap": "O limite diário de mensagens deste número foi atingido.",
    "invalid_message": "A mensagem não pôde ser montada para este provedor.",
    "unsupported_kind": "Este provedor não envia este tipo de mensagem.",
    "media_missing": "O arquivo desta mensagem não foi encontrado.",
    "no_client": "Provedor de WhatsApp desconhecido.",
}

STATUS_LABELS: dict[str, str] = {
    "received": "recebida",
    "buffered": "recebida",
    "pending": "na fila",
    "sending": "enviando",
    "sent": "enviada",
    "delivered": "entregue",
    "read": "lida",
    "played": "ouvida",
    "failed": "falhou",
    "dropped": "não enviada",
    "unknown": "resultado incerto: o provedor pode ter recebido a mensagem; confira antes de reenviar",
}


def meaning(code: str | None) -> str | None:
    if not code:
        return None
    return MEANINGS.get(code, "Erro do provedor ao enviar a mensagem.")
