import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.core.management.base import BaseCommand

from apps.entitlements.license_keys import key_id


class Command(BaseCommand):
    help = (
        "Make a new Ed25519 signing key for license keys. Prints the private key once, for "
        "LICENSE_SIGNING_KEY, and the public key to add to LICENSE_RETIRED_PUBLIC_KEYS when "
        "this key is later replaced."
    )

    def handle(self, *args, **options):
        private = Ed25519PrivateKey.generate()
        public = private.public_key()
        raw_public = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.stdout.write(f"key id:              {key_id(public)}")
        self.stdout.write(
            f"LICENSE_SIGNING_KEY: {base64.b64encode(private.private_bytes_raw()).decode()}"
        )
        self.stdout.write(f"public key:          {base64.b64encode(raw_public).decode()}")
