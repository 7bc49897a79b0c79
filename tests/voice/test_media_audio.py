"""Sound tracks of video files (PyAV), the decoded-samples limit, and loudness normalisation."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emorec.errors import InputError
from emorec.testing.media import speech_like
from emorec.voice.audio import MEDIA_EXTENSIONS, VIDEO_EXTENSIONS, audio_info, read_audio, stream_audio
from emorec.voice.loudness import normalize_loudness, speech_level_db

av = pytest.importorskip("av")


def _video(path: Path, x: np.ndarray, rate: int, fmt: str, audio_codec: str, video: bool = True,
           channels: int = 1) -> Path:
    """A small video (or audio-only container) whose sound track is ``x``."""
    with av.open(str(path), "w", format=fmt) as out:
        if video:
            vs = out.add_stream("mpeg4" if fmt in ("mp4", "avi", "mov") else "libvpx" if fmt == "webm" else "flv"
                                if fmt == "flv" else "mpeg4", rate=10)
            vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        layout = "mono" if channels == 1 else "stereo"
        a = out.add_stream(audio_codec, rate=rate)
        a.layout = layout
        if video:
            for i in range(int(10 * x.size / rate)):
                frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 10 % 255, np.uint8), format="rgb24")
                for packet in vs.encode(frame):
                    out.mux(packet)
        pcm = (np.clip(x, -1, 1) * 32767).astype(np.int16)
        data = pcm[None] if channels == 1 else np.repeat(pcm[None], channels, 0).T.reshape(1, -1)
        size = a.codec_context.frame_size or 1024
        for start in range(0, x.size, size):
            chunk = data[:, start * channels:(start + size) * channels] if channels > 1 else data[:, start:start + size]
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="s16", layout=layout)
            frame.sample_rate = rate
            frame.pts = start
            for packet in a.encode(frame):
                out.mux(packet)
        for packet in a.encode(None):
            out.mux(packet)
        if video:
            for packet in vs.encode(None):
                out.mux(packet)
    return path


def test_extensions_cover_the_video_containers():
    for ext in (".mp4", ".mkv", ".mov", ".webm", ".avi", ".flv"):
        assert ext in VIDEO_EXTENSIONS and ext in MEDIA_EXTENSIONS


def test_mp4_sound_track_matches_the_source_samples(tmp_path):
    x = speech_like(2.0, sr=16000, seed=3)
    path = _video(tmp_path / "clip.mp4", x, 16000, "mp4", "pcm_s16le" if False else "aac")
    info = audio_info(path)
    assert info.backend == "av" and info.sample_rate == 16000 and info.channels == 1
    y = read_audio(path)
    assert abs(y.size - x.size) < 0.05 * x.size
    # AAC adds priming samples: align by cross-correlation, then the waveforms agree.
    n = min(x.size, y.size) - 2048
    lags = range(0, 2048)
    best = max(lags, key=lambda k: float(np.dot(x[:n], y[k:k + n])))
    corr = np.corrcoef(x[:n], y[best:best + n])[0, 1]
    assert corr > 0.97


def test_lossless_mkv_sound_track_is_sample_exact(tmp_path):
    x = speech_like(1.5, sr=16000, seed=4)
    path = _video(tmp_path / "clip.mkv", x, 16000, "matroska", "pcm_s16le")
    y = read_audio(path)
    ref = (np.clip(x, -1, 1) * 32767).astype(np.int16).astype(np.float32) / 32768
    assert y.size == ref.size
    assert np.max(np.abs(y - ref)) < 1e-4


def test_stereo_44k_track_is_mixed_down_and_resampled_in_blocks(tmp_path):
    x = speech_like(3.0, sr=44100, seed=5)
    path = _video(tmp_path / "clip.mkv", x, 44100, "matroska", "pcm_s16le", channels=2)
    assert audio_info(path).channels == 2
    full = read_audio(path)
    blocks = list(stream_audio(path, block_seconds=1.0))
    assert max(b.size for b in blocks) <= 16000
    assert np.allclose(np.concatenate(blocks), full, atol=1e-5)
    assert abs(full.size - 48000) < 200


def test_video_without_sound_and_garbage_give_one_line_errors(tmp_path):
    silent = tmp_path / "mute.mp4"
    with av.open(str(silent), "w", format="mp4") as out:
        vs = out.add_stream("mpeg4", rate=10)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        for i in range(5):
            for packet in vs.encode(av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")):
                out.mux(packet)
        for packet in vs.encode(None):
            out.mux(packet)
    with pytest.raises(InputError, match="no sound track"):
        read_audio(silent)
    junk = tmp_path / "junk.webm"
    junk.write_bytes(b"\x1aE\xdf\xa3" + bytes(range(256)) * 20)
    with pytest.raises(InputError) as err:
        read_audio(junk)
    assert "\n" not in str(err.value)


def test_decoded_samples_limit_is_checked_from_the_header(tmp_path):
    # A decompression bomb in miniature: 8 channels of silence at 384 kHz compress to almost nothing.
    path = tmp_path / "bomb.flac"
    sf.write(str(path), np.zeros((384000 * 2, 8), np.float32), 384000, format="FLAC")
    assert path.stat().st_size < 200_000
    with pytest.raises(InputError, match="samples"):
        read_audio(path, max_samples=1_000_000, allow_silent=True)
    ok = read_audio(path, max_samples=10_000_000, allow_silent=True)
    assert ok.size == 32000  # 2 s at 16 kHz, mono


@pytest.mark.data
def test_cremad_flv_sound_tracks_decode_and_match_the_wav_copies(shared_data):
    root = shared_data / "crema-d-sample"
    for flv in sorted((root / "VideoFlash").glob("*.flv")):
        y = read_audio(flv)
        wav = read_audio(root / "AudioWAV" / f"{flv.stem}.wav")
        assert abs(y.size - wav.size) < 0.05 * wav.size
        assert speech_level_db(y) == pytest.approx(speech_level_db(wav), abs=1.0)


def test_loudness_normalisation_levels_and_invariance():
    x = speech_like(2.0, seed=1, level=0.05)
    a, b = normalize_loudness(x), normalize_loudness(10 * x)
    assert speech_level_db(a) == pytest.approx(-23.0, abs=0.5)
    assert np.allclose(a, b, atol=1e-5)
    assert float(np.max(np.abs(normalize_loudness(x * 0.0 + 1e-7)))) < 1e-4  # silence is not blown up


def test_a_clip_and_its_10x_louder_copy_get_the_same_prediction():
    from emorec.voice.recognizer import VoiceEmotionRecognizer

    rec = VoiceEmotionRecognizer()  # the packaged model
    x = speech_like(2.5, seed=2, level=0.02)
    quiet, loud = rec.predict(x, sample_rate=16000), rec.predict(10 * x, sample_rate=16000)
    assert quiet.label == loud.label
    for k in quiet.scores:
        assert quiet.scores[k] == pytest.approx(loud.scores[k], abs=1e-4)



def test_very_quiet_speech_is_brought_to_the_target_and_the_usual_range_is_unchanged():
    from emorec.voice.audio import SILENCE_PEAK
    from emorec.voice.loudness import MAX_GAIN_DB, TARGET_DBFS

    x = speech_like(2.5, seed=3, level=0.2)
    faint = (x * np.float32(1.5 * SILENCE_PEAK / float(np.max(np.abs(x))))).astype(np.float32)
    assert TARGET_DBFS - speech_level_db(faint) > MAX_GAIN_DB  # beyond the usual cap, above the silence check
    assert speech_level_db(normalize_loudness(faint)) == pytest.approx(TARGET_DBFS, abs=0.5)
    assert np.allclose(normalize_loudness(faint), normalize_loudness(x), atol=2e-3)
    # within the usual range the gain is the plain gated measurement's, as the training corpora saw it
    mid = (x * np.float32(0.05)).astype(np.float32)
    want = mid * np.float32(10 ** ((TARGET_DBFS - speech_level_db(mid)) / 20))
    np.testing.assert_allclose(normalize_loudness(mid), want, rtol=1e-5, atol=1e-7)
