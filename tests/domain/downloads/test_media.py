"""ffmpeg: decoding proves a file is audio; conversion to the configured format."""

from __future__ import annotations

import pytest

from services.domain.downloads import media


def test_decoded_duration_of_real_audio(media_root):
    assert media.decoded_duration(media_root / "groove.wav") == pytest.approx(8.0, abs=0.05)
    assert media.decoded_duration(media_root / "groove.mp3") == pytest.approx(8.0, abs=0.1)


@pytest.mark.parametrize("content", [b"<html>not audio</html>", b"\xff\xfb" + bytes(range(256)) * 40, b"RIFF0000"])
def test_non_audio_is_refused_with_ffmpegs_reason(tmp_path, content):
    path = tmp_path / "x.mp3"
    path.write_bytes(content)
    with pytest.raises(media.NotAudio) as caught:
        media.decoded_duration(path)
    assert "not audio" in str(caught.value) or "damaged" in str(caught.value) or "no audio" in str(caught.value)


def test_truncated_file_is_damaged(media_root, tmp_path):
    cut = tmp_path / "cut.m4a"
    cut.write_bytes((media_root / "groove.m4a").read_bytes()[:4000])
    with pytest.raises(media.NotAudio):
        media.decoded_duration(cut)


@pytest.mark.parametrize("fmt, codec", [("m4a", "aac"), ("mp3", "mp3"), ("flac", "flac")])
def test_convert_writes_the_format_and_keeps_the_length(media_root, tmp_path, fmt, codec):
    out = media.convert(media_root / "groove.wav", fmt=fmt, workdir=tmp_path)
    assert out.suffix == media.FORMATS[fmt][0]
    assert media.source_codec(out) == codec
    assert media.decoded_duration(out) == pytest.approx(8.0, abs=0.1)


def test_same_codec_is_copied_not_reencoded(media_root, tmp_path):
    source = media_root / "groove.m4a"
    out = media.convert(source, fmt="m4a", workdir=tmp_path)
    # A stream copy keeps the encoded bytes: the size stays within the container's overhead.
    assert abs(out.stat().st_size - source.stat().st_size) < 4096


def _streams(path) -> str:
    import subprocess

    done = subprocess.run([media.ffmpeg_binary(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    return done.stderr


def test_cover_art_is_kept_only_when_asked(media_root, tmp_path):
    import subprocess

    with_cover = tmp_path / "cover.mp3"
    subprocess.run([media.ffmpeg_binary(), "-v", "error", "-i", str(media_root / "groove.mp3"), "-f", "lavfi", "-i",
                    "color=c=red:s=64x64:d=1", "-frames:v", "1", "-map", "0:a", "-map", "1:v", "-c:a", "copy",
                    "-c:v", "mjpeg", "-disposition:v", "attached_pic", str(with_cover)], check=True)
    assert "Video:" in _streams(with_cover)
    (tmp_path / "a").mkdir()
    kept = media.convert(with_cover, fmt="m4a", workdir=tmp_path / "a", keep_cover=True)
    assert "attached pic" in _streams(kept)
    (tmp_path / "b").mkdir()
    dropped = media.convert(with_cover, fmt="m4a", workdir=tmp_path / "b")
    assert "Video:" not in _streams(dropped)
