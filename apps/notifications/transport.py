"""Handing emails to the mail server, over one connection kept per worker process.

An SMTP server answers an email only once it has read all of it: milliseconds for a
Fulfillment Email and its certificates, in which the sender would sit idle. So the server's
answer is not waited for at once: `hand_over` sends an email up to its end and returns a
`Handover`, and `Handover.verdict()` reads the answer later, after the sender has built the
next email. The two overlap, and the server still gets one email at a time on one connection.

Other backends (files under var/mail/, the tests' outbox) have nothing to wait for: they
store the email in `hand_over`.
"""

import re
import smtplib
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.core.mail.message import sanitize_address

_connections: dict = {}


@dataclass(frozen=True)
class Prepared:
    """An email as the SMTP server will read it: its envelope and its bytes."""

    message: EmailMessage
    from_email: str
    recipients: list[str]
    data: bytes

    @property
    def smtp_data(self) -> bytes:
        """The bytes after DATA: lines starting with a dot doubled, ended by a lone dot."""
        data = re.sub(rb"(?m)^\.", b"..", self.data)
        return data + (b"" if data.endswith(b"\r\n") else b"\r\n") + b".\r\n"


def prepare(message: EmailMessage) -> Prepared:
    """Build the MIME bytes and the envelope, as Django's SMTP backend does."""
    encoding = message.encoding or settings.DEFAULT_CHARSET
    return Prepared(
        message=message,
        from_email=sanitize_address(message.from_email, encoding),
        recipients=[sanitize_address(address, encoding) for address in message.recipients()],
        data=message.message().as_bytes(linesep="\r\n"),
    )


class Handover:
    """One email given to the mail server, whose answer is read by `verdict()`."""

    def __init__(self, smtp: smtplib.SMTP | None = None, error: Exception | None = None):
        self._smtp, self._error = smtp, error

    def verdict(self) -> None:
        """Return once the server has accepted the email; raise what it answered otherwise."""
        if self._error is not None:
            raise self._error
        if self._smtp is not None:
            try:
                _end_of_data_reply(self._smtp)
            except BaseException as error:
                if not _is_reply(error):
                    connections_drop()
                raise


def hand_over(prepared: Prepared) -> Handover:
    """Give one email to the mail server. Read the returned handover's verdict before the
    next email is handed over."""
    try:
        connection = _connection()
        if not isinstance(connection, SMTPBackend):
            connection.send_messages([prepared.message])
            return Handover()
        try:
            _send_up_to_end_of_data(connection.connection, prepared)
        except smtplib.SMTPServerDisconnected:
            # The kept connection went stale (a server timeout): reconnect once and try again.
            connection.close()
            connection.open()
            _send_up_to_end_of_data(connection.connection, prepared)
        return Handover(smtp=connection.connection)
    except Exception as error:  # noqa: BLE001 - the verdict raises it
        if not _is_reply(error):
            connections_drop()
        return Handover(error=error)


def _is_reply(error: BaseException) -> bool:
    """The server answered (and the conversation is where the server thinks it is)."""
    return isinstance(error, smtplib.SMTPResponseException | smtplib.SMTPRecipientsRefused)


def connections_drop() -> None:
    """Close this process's kept connections at once, without a word to the server.

    For a conversation stopped at an unknown point (a task out of time in the middle of a
    message, a reply never read): a server still reading a message would read the next
    one's commands as its text, or hand a late reply to the next email. A server that loses
    the connection before a message's end discards it; the row is sent again.
    """
    for connection in _connections.values():
        smtp = getattr(connection, "connection", None)
        if smtp is not None:
            try:
                smtp.close()
            except OSError:
                pass
            connection.connection = None


def is_permanent(error: Exception) -> bool:
    """5xx replies are final; 4xx replies, lost connections and timeouts are worth a retry."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code >= 500
    return False


def _send_up_to_end_of_data(smtp: smtplib.SMTP, prepared: Prepared) -> None:
    """What smtplib's sendmail does, short of reading the answer to the message itself."""
    smtp.ehlo_or_helo_if_needed()
    options = [f"size={len(prepared.data)}"] if smtp.has_extn("size") else []
    code, reply = smtp.mail(prepared.from_email, options)
    if code != 250:
        _abandon(smtp, code)
        raise smtplib.SMTPSenderRefused(code, reply, prepared.from_email)
    refused = {}
    for recipient in prepared.recipients:
        code, reply = smtp.rcpt(recipient)
        if code not in (250, 251):
            refused[recipient] = (code, reply)
        if code == 421:
            break
    if len(refused) == len(prepared.recipients) or code == 421:
        _abandon(smtp, code)
        raise smtplib.SMTPRecipientsRefused(refused)
    code, reply = smtp.docmd("data")
    if code != 354:
        _abandon(smtp, code)
        raise smtplib.SMTPDataError(code, reply)
    smtp.send(prepared.smtp_data)


def _end_of_data_reply(smtp: smtplib.SMTP) -> None:
    code, reply = smtp.getreply()
    if code != 250:
        _abandon(smtp, code)
        raise smtplib.SMTPDataError(code, reply)


def _abandon(smtp: smtplib.SMTP, code: int) -> None:
    """Leave a refused transaction: the server closes on 421, else it is reset."""
    if code == 421:
        smtp.close()
        return
    try:
        smtp.rset()
    except smtplib.SMTPServerDisconnected:
        pass  # the next email reconnects


def _connection():
    """One connection per worker process and server, opened once and kept."""
    key = (
        settings.EMAIL_BACKEND,
        getattr(settings, "EMAIL_HOST", ""),
        getattr(settings, "EMAIL_PORT", 0),
    )
    connection = _connections.get(key)
    if connection is None:
        connection = _connections[key] = get_connection()
    if getattr(connection, "connection", True) is None:
        connection.open()
    return connection
