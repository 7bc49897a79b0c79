"""Small units of the service: content sniffing, settings, file names, the CLI command."""
from __future__ import annotations

import os

import pytest

from emorec.errors import InputError
from emorec.serve.settings import ServeSettings
from emorec.serve.sniff import sniff
from emorec.serve.uploads import clean_filename

from .helpers import jpeg_bytes, png_bomb, png_bytes, speech_like, wav_bytes


@pytest.mark.parametrize("data,kind,media", [
    (jpeg_bytes(32, 32), "jpeg", "image"),
    (png_bytes(), "png", "image"),
    (b"GIF89a" + bytes(20), "gif", "image"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "webp", "image"),
    (b"II*\x00" + bytes(20), "tiff", "image"),
    (wav_bytes(speech_like(0.1)), "wav", "audio"),
    (wav_bytes(speech_like(0.1), fmt="FLAC"), "flac", "audio"),
    (wav_bytes(speech_like(0.1), fmt="OGG"), "ogg", "audio"),
    (wav_bytes(speech_like(0.5), fmt="MP3"), "mp3", "audio"),
    (b"\x1aE\xdf\xa3" + bytes(30), "webm", "audio"),
    (b"%PDF-1.7\n", "pdf", "other"),
    (b"hello, world\n", "text", "other"),
    ("héllo wörld ".encode() * 5, "text", "other"),
    (bytes(range(256))[:64], "unknown", "other"),
])
def test_sniff_by_magic_bytes(data, kind, media):
    found = sniff(data)
    assert (found.kind, found.media) == (kind, media)


def test_sniff_ignores_what_follows_the_header():
    assert sniff(png_bomb()).kind == "png"
    assert sniff(b"\x1aE\xdf\xa3").supported  # webm: its sound track is decoded through PyAV
    assert sniff(b"FLV\x01\x05" + bytes(20)).kind == "flv"
    assert sniff(b"RIFF\x00\x00\x00\x00AVI LIST").kind == "avi"
    assert sniff(b"\x00\x00\x00\x14ftypqt  ").kind == "mp4"


def test_clean_filename():
    assert clean_filename("../../etc/passwd") == "passwd"
    assert clean_filename("C:\\photos\\me.jpg") == "me.jpg"
    assert clean_filename("a\x00b\x1fc.jpg") == "abc.jpg"
    assert clean_filename("") == "upload"
    assert clean_filename("x" * 500) == "x" * 200


def test_settings_defaults_are_safe():
    s = ServeSettings()
    assert s.host == "127.0.0.1"
    assert s.max_image_bytes == 10 * 1024 * 1024 and s.max_audio_bytes == 25 * 1024 * 1024
    assert s.cors_origins == ()
    assert 1 <= s.threads <= 4 and s.queue_size > 0


def test_settings_round_trip_through_environment():
    s = ServeSettings(port=9000, max_audio_seconds=12.5, cors_origins=("https://a.example", "https://b.example"),
                      tasks=("face",), face_model="/m/face.onnx")
    assert ServeSettings.from_env(s.to_env()) == s


def test_settings_reject_bad_values():
    with pytest.raises(InputError, match="max_image_bytes"):
        ServeSettings(max_image_bytes=0)
    with pytest.raises(InputError, match="tasks"):
        ServeSettings(tasks=("face", "smell"))
    with pytest.raises(InputError, match="not a number"):
        ServeSettings.from_env({"EMOREC_SERVE_PORT": "eighty"})


def test_serve_command_is_registered_with_its_options():
    from typer.testing import CliRunner

    from emorec.cli import app

    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for option in ("--host", "--port", "--workers", "--max-image-mb", "--max-audio-seconds", "--queue",
                   "--timeout", "--cors-origin"):
        assert option in result.output, option


def test_serve_command_passes_settings_to_uvicorn(monkeypatch):
    import uvicorn
    from typer.testing import CliRunner

    from emorec.cli import app

    calls = {}
    monkeypatch.setattr(uvicorn, "run", lambda target, **kw: calls.update(target=target, **kw))
    for key in list(os.environ):
        if key.startswith("EMOREC_SERVE_"):
            monkeypatch.delenv(key)
    try:
        result = CliRunner().invoke(app, ["serve", "--port", "8123", "--workers", "2", "--max-image-mb", "2",
                                          "--queue", "3", "--cors-origin", "https://app.example"])
        assert result.exit_code == 0, result.output
        assert calls["target"] == "emorec.serve.app:create_app_from_env" and calls["factory"] is True
        assert (calls["host"], calls["port"], calls["workers"]) == ("127.0.0.1", 8123, 2)
        settings = ServeSettings.from_env()  # what every worker process will build
        assert settings.max_image_bytes == 2 * 1024 * 1024 and settings.queue_size == 3
        assert settings.cors_origins == ("https://app.example",)
    finally:
        for key in [k for k in os.environ if k.startswith("EMOREC_SERVE_")]:
            del os.environ[key]  # written by the command for its workers; must not leak


def test_serve_providers_reach_the_workers_and_a_bad_choice_is_one_line(monkeypatch, capsys):
    import onnxruntime as ort
    import uvicorn
    from typer.testing import CliRunner

    from emorec.cli import app

    monkeypatch.setattr(uvicorn, "run", lambda target, **kw: None)
    monkeypatch.delenv("EMOREC_PROVIDERS", raising=False)
    try:
        result = CliRunner().invoke(app, ["serve", "--providers", "auto", "--task", "voice"])
        assert result.exit_code == 0, result.output
        assert os.environ["EMOREC_PROVIDERS"] == "auto"  # what every worker's recognisers read
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            from emorec.cli import main

            with pytest.raises(SystemExit) as stop:
                main(["serve", "--providers", "cuda", "--task", "voice"])
            err = capsys.readouterr().err
            assert stop.value.code == 2 and "no CUDA provider" in err and "Traceback" not in err
            assert len(err.strip().splitlines()) == 1
    finally:
        os.environ.pop("EMOREC_PROVIDERS", None)
        for key in [k for k in os.environ if k.startswith("EMOREC_SERVE_")]:
            del os.environ[key]
