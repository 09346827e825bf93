"""`make chat`: be a customer of the demo tenant from the terminal.

Each line you type is posted to the running gateway as a signed Meta webhook (the
same bytes Meta would send); the bot's replies are read from the local Graph
sandbox and printed as they arrive. Commands: /quit, /new (a new customer number).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from typing import Any

import httpx

from wacommon.providers.meta.webhook_checks import sign
from walocal.localdev import DEMO_DISPLAY, DEMO_PHONE_ID, SANDBOX_PORT, read_env

DIM, BOLD, GREEN, RESET = "\x1b[2m", "\x1b[1m", "\x1b[32m", "\x1b[0m"


def webhook(text: str, sender: str, name: str) -> bytes:
    """A Meta `messages` webhook for one text message to the demo number."""
    body: dict[str, Any] = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "sandbox-waba",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": DEMO_DISPLAY,
                                "phone_number_id": DEMO_PHONE_ID,
                            },
                            "contacts": [{"profile": {"name": name}, "wa_id": sender}],
                            "messages": [
                                {
                                    "from": sender,
                                    "id": f"wamid.sandbox.{uuid.uuid4().hex}",
                                    "timestamp": str(int(time.time())),
                                    "type": "text",
                                    "text": {"body": text},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    return json.dumps(body).encode()


async def poll_replies(
    http: httpx.AsyncClient, sandbox: str, sender: str, stop: asyncio.Event
) -> None:
    after = 0
    first = await http.get(f"{sandbox}/_sandbox/messages", params={"to": sender})
    after = int(first.json().get("last_seq", 0))
    while not stop.is_set():
        try:
            resp = await http.get(
                f"{sandbox}/_sandbox/messages", params={"to": sender, "after": after}
            )
            data = resp.json()
            for msg in data.get("messages", []):
                print(
                    f"\r{GREEN}{BOLD}bot{RESET}{GREEN} › {msg.get('text')}{RESET}\n{BOLD}você{RESET} › ",
                    end="",
                    flush=True,
                )
            after = int(data.get("last_seq", after))
        except httpx.HTTPError:
            print(f"\r{DIM}(sandbox not reachable at {sandbox}; is `make run` running?){RESET}")
            await asyncio.sleep(2)
        await asyncio.sleep(0.3)


async def chat(gateway: str, sandbox: str, secret: str) -> None:
    sender = "5511" + "".join(random.choice("0123456789") for _ in range(9))
    name = "Cliente Sandbox"
    print(f"{DIM}You are customer +{sender} writing to the demo business (+{DEMO_DISPLAY}).")
    print(f"Type a message and press Enter; /new starts as a new customer, /quit leaves.{RESET}")
    stop = asyncio.Event()
    async with httpx.AsyncClient(timeout=10) as http:
        poller = asyncio.create_task(poll_replies(http, sandbox, sender, stop))
        loop = asyncio.get_running_loop()
        while True:
            try:
                line = await loop.run_in_executor(None, lambda: input(f"{BOLD}você{RESET} › "))
            except EOFError:
                # piped input ended: give the bot time to answer what was sent
                await asyncio.sleep(0 if sys.stdin.isatty() else 8)
                break
            text = line.strip()
            if not text:
                continue
            if text == "/quit":
                break
            if text == "/new":
                stop.set()
                await poller
                return await chat(gateway, sandbox, secret)
            raw = webhook(text, sender, name)
            try:
                resp = await http.post(
                    f"{gateway}/meta/webhook",
                    content=raw,
                    headers={
                        "content-type": "application/json",
                        "x-hub-signature-256": sign(raw, secret),
                    },
                )
            except httpx.HTTPError as exc:
                print(
                    f"{DIM}gateway not reachable at {gateway} ({exc}); is `make run` running?{RESET}"
                )
                continue
            if resp.status_code != 200:
                print(f"{DIM}gateway answered {resp.status_code}: {resp.text[:200]}{RESET}")
        stop.set()
        await poller


def main() -> None:
    """Chat with the local demo tenant."""
    env = read_env()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gateway", default="http://127.0.0.1:8000")
    parser.add_argument("--sandbox", default=f"http://127.0.0.1:{SANDBOX_PORT}")
    args = parser.parse_args()
    secret = env.get("META_APP_SECRET")
    if not secret:
        sys.exit("no META_APP_SECRET in .env: run `make run` first (it writes one)")
    try:
        asyncio.run(chat(args.gateway, args.sandbox, secret))
    except (KeyboardInterrupt, EOFError):
        print()


if __name__ == "__main__":
    main()
