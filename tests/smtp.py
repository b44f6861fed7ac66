"""A real SMTP server for the tests (aiosmtpd), that can be told to refuse messages."""

import email
import os
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


class FolderSink:
    """Writes every accepted message to a file of its own in `folder` (for a server that runs
    as a process of its own, on another host than the test)."""

    def __init__(self, folder: str):
        self.folder = folder
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        name = f"{self.count:06d}.eml"
        partial = os.path.join(self.folder, f".{name}")
        with open(partial, "wb") as file:
            file.write(b"X-Envelope-To: " + ", ".join(envelope.rcpt_tos).encode() + b"\r\n")
            file.write(envelope.content)
        os.rename(partial, os.path.join(self.folder, name))  # whole, or not there
        return "250 OK"


def folder_messages(folder) -> list[EmailMessage]:
    """The messages a FolderSink wrote, in the order it accepted them."""
    names = sorted(name for name in os.listdir(folder) if name.endswith(".eml"))
    messages = []
    for name in names:
        with open(os.path.join(folder, name), "rb") as file:
            messages.append(email.message_from_binary_file(file, policy=default))
    return messages


if __name__ == "__main__":
    # python -m tests.smtp HOST PORT FOLDER: serve until killed.
    import sys
    import threading

    host, port, folder = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    controller = Controller(FolderSink(folder), hostname=host, port=port)
    controller.start()
    print(f"SMTP on {host}:{port}, writing to {folder}", flush=True)
    threading.Event().wait()
