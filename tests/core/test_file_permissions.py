"""Certificates and other stored files are readable by Keyship's own user only."""

import stat

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_stored_certificate_and_the_folders_made_for_it_are_private(tmp_path):
    # The test settings keep files in memory; the project's file settings apply to the
    # file-system storage that production uses, so this one stores on disk.
    media = tmp_path / "media"
    storage = FileSystemStorage(location=media)

    name = storage.save("certificates/1234-5678-9ABC/v1.pdf", ContentFile(b"%PDF-1.7"))

    assert mode(media / name) == 0o600
    for folder in (media, media / "certificates", media / "certificates" / "1234-5678-9ABC"):
        assert mode(folder) == 0o700, folder
