"""Decide what an upload is from its first bytes (magic numbers), never from its name.

Example:
    >>> sniff(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(24)).kind
    'png'
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sniffed:
    kind: str  # short format name, e.g. "jpeg", "wav", "webm", "text", "unknown"
    media: str  # "image", "audio", "other"
    supported: bool  # whether emorec can decode it

    @property
    def label(self) -> str:
        return self.kind.upper() if self.kind not in ("text", "unknown") else self.kind


def sniff(head: bytes) -> Sniffed:
    """Classify a file by its leading bytes (the first 64 are enough)."""
    h = bytes(head[:64])
    if h.startswith(b"\xff\xd8\xff"):
        return Sniffed("jpeg", "image", True)
    if h.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed("png", "image", True)
    if h[:6] in (b"GIF87a", b"GIF89a"):
        return Sniffed("gif", "image", True)
    if h.startswith(b"BM") and len(h) >= 26:
        return Sniffed("bmp", "image", True)
    if h[:4] == b"RIFF" and h[8:12] == b"WEBP":
        return Sniffed("webp", "image", True)
    if h[:4] in (b"II*\x00", b"MM\x00*"):
        return Sniffed("tiff", "image", True)
    if h[:4] == b"RIFF" and h[8:12] == b"WAVE":
        return Sniffed("wav", "audio", True)
    if h[:4] == b"RF64" and h[8:12] == b"WAVE":
        return Sniffed("wav", "audio", True)
    if h.startswith(b"fLaC"):
        return Sniffed("flac", "audio", True)
    if h.startswith(b"OggS"):
        return Sniffed("ogg", "audio", True)  # Vorbis or Opus, both read by libsndfile
    if h[:4] == b"FORM" and h[8:12] in (b"AIFF", b"AIFC"):
        return Sniffed("aiff", "audio", True)
    if h.startswith(b"ID3") or (len(h) > 1 and h[0] == 0xFF and (h[1] & 0xE0) == 0xE0):
        return Sniffed("mp3", "audio", True)
    if h.startswith(b"\x1aE\xdf\xa3"):
        # Matroska/WebM, what MediaRecorder produces in Chromium: its sound track is read through PyAV.
        return Sniffed("webm", "audio", True)
    if h[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free"):
        return Sniffed("mp4", "audio", True)  # MP4 / QuickTime (mov, m4a): sound track through PyAV
    if h[:3] == b"FLV":
        return Sniffed("flv", "audio", True)
    if h[:4] == b"RIFF" and h[8:12] == b"AVI ":
        return Sniffed("avi", "audio", True)
    if h.startswith(b"%PDF"):
        return Sniffed("pdf", "other", False)
    if h.startswith(b"PK\x03\x04"):
        return Sniffed("zip", "other", False)
    if _looks_like_text(h):
        return Sniffed("text", "other", False)
    return Sniffed("unknown", "other", False)


def _looks_like_text(h: bytes) -> bool:
    if not h:
        return False
    try:
        h.decode("utf-8")
    except UnicodeDecodeError:
        # A multi-byte character may be cut at the end of the sample.
        try:
            h[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    return all(b >= 0x20 or b in (0x09, 0x0A, 0x0D) for b in h)
