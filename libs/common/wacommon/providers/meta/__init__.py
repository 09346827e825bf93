"""Meta (WhatsApp Cloud API): inbound webhooks, outbound client, errors, media, account admin."""
