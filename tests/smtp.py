"""A real SMTP server for the tests (aiosmtpd), that can be told to refuse messages."""

import email
import socket
from email.message import EmailMessage
from email.policy import default

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MailSink:
    """Keeps every accepted message; answers the next messages with `refusals` first (e.g.
    "451 ..."; None accepts that one)."""

    def __init__(self):
        self.messages: list[EmailMessage] = []
        self.refusals: list[str | None] = []

    async def handle_DATA(self, server, session, envelope):
        refusal = self.refusals.pop(0) if self.refusals else None
        if refusal:
            return refusal
        message = email.message_from_bytes(envelope.content, policy=default)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["X-Envelope-To"] == address]


class SmtpServer:
    def __init__(self, port: int | None = None):
        self.sink = MailSink()
        self.port = port or free_port()
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()
