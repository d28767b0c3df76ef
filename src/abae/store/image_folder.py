"""Which files of an image folder become records, and reading them safely.

The rules (``docs/store.md``, "Paths"):

- Image files are found by suffix (:data:`IMAGE_EXTENSIONS`), in sub-folders
  too; symbolic links to folders are not followed.
- A file whose real location is outside the folder (a symbolic link such as
  ``photo.png -> /etc/passwd``) is skipped with a warning, so the import never
  stores its path and ``--embed`` never copies its bytes into the store.
  Links that stay inside the folder are fine.
- Broken links and things that are not regular files (pipes, devices) are
  skipped with a warning too.
- With ``--embed`` a file is opened without following a link in its last
  component, so a file swapped for a link after the scan is not read either.

Example:
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> open(os.path.join(folder, "a.png"), "wb").close()
    >>> os.symlink("/etc/hostname", os.path.join(folder, "b.png"))
    >>> scan = scan_image_folder(folder)
    >>> [f.relative for f in scan.files], [s.relative for s in scan.skipped]
    (['a.png'], ['b.png'])
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class ImageFile:
    """One image file of the folder.

    Attributes:
        relative: its path relative to the folder, as found (``sub/a.png``).
        real_path: its absolute path with every link resolved (inside the folder).
    """

    relative: str
    real_path: str


@dataclass(frozen=True)
class SkippedFile:
    """A file with an image suffix that is not imported, and why."""

    relative: str
    reason: str


@dataclass(frozen=True)
class FolderScan:
    """The image files of a folder in sorted order, and the files skipped."""

    files: list[ImageFile] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)


def scan_image_folder(folder: str | os.PathLike[str]) -> FolderScan:
    """Find the image files under ``folder`` (recursive), applying the module's rules.

    Raises:
        FileNotFoundError: ``folder`` is not a folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder: {folder}")
    root = os.path.realpath(folder)
    found: list[ImageFile] = []
    skipped: list[SkippedFile] = []
    for directory, _, names in os.walk(folder, followlinks=False):
        for name in names:
            if not name.lower().endswith(IMAGE_EXTENSIONS):
                continue
            path = Path(directory) / name
            relative = str(path.relative_to(folder))
            real = os.path.realpath(path)
            if os.path.commonpath([root, real]) != root:
                skipped.append(SkippedFile(relative, f"links outside the folder, to {real}"))
                continue
            try:
                mode = os.stat(real).st_mode
            except OSError:
                skipped.append(SkippedFile(relative, "is a broken link"))
                continue
            if not stat.S_ISREG(mode):
                skipped.append(SkippedFile(relative, "is not a regular file"))
                continue
            found.append(ImageFile(relative=relative, real_path=real))
    found.sort(key=lambda f: f.relative)
    skipped.sort(key=lambda s: s.relative)
    return FolderScan(files=found, skipped=skipped)


def read_image_bytes(image: ImageFile) -> bytes:
    """The file's bytes, refusing a last path component that became a link since the scan.

    Raises:
        OSError: the file cannot be read, or is now a link (``ELOOP``).
    """
    fd = os.open(image.real_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as file:
        return file.read()


def skipped_message(folder: str | os.PathLike[str], skipped: list[SkippedFile]) -> str:
    """One warning line for the skipped files (the first few named)."""
    shown = "; ".join(f"{s.relative} {s.reason}" for s in skipped[:5])
    more = f"; and {len(skipped) - 5} more" if len(skipped) > 5 else ""
    return f"skipped {len(skipped)} file(s) under {folder} that are not imported: {shown}{more}"
