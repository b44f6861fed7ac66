"""An email backend of a deployment's own, standing for one that signs with DKIM: a subclass
of Django's SMTP backend that adds a signature header to every message on its way out."""

import hashlib

from django.core.mail.backends import smtp


class SigningSmtpBackend(smtp.EmailBackend):
    def send_messages(self, email_messages):
        for message in email_messages:
            body_hash = hashlib.sha256(message.body.encode()).hexdigest()[:32]
            message.extra_headers["DKIM-Signature"] = (
                f"v=1; a=rsa-sha256; d=keyship.example; s=test; bh={body_hash}"
            )
        return super().send_messages(email_messages)
