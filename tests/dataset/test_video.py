"""mp4 encode/decode: odd sizes, one frame, frame selection, and real sample files."""

from pathlib import Path

import numpy as np
import pytest

from dataset.video import decode_mp4, encode_mp4

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"


def gradient_frames(t, h, w):
    """Grey ramps (luma is kept at full resolution; chroma is subsampled by yuv420p)."""
    yy, xx = np.mgrid[0:h, 0:w]
    ramp = np.stack([(xx * 160 // max(w - 1, 1) + yy * 60 // max(h - 1, 1) + 10 * i) for i in range(t)])
    return np.repeat(ramp[..., None], 3, axis=-1).astype(np.uint8)


@pytest.mark.parametrize("t,h,w", [(4, 32, 48), (1, 33, 47), (3, 7, 9)])
def test_round_trip_keeps_size_and_content(t, h, w):
    frames = gradient_frames(t, h, w)
    data = encode_mp4(frames, fps=12.5)
    back = decode_mp4(data, size=(h, w))
    assert back.shape == frames.shape and back.dtype == np.uint8
    assert np.abs(back.astype(int) - frames).mean() < 6  # lossy but close at crf 18


def test_frame_selection_matches_full_decode():
    frames = gradient_frames(8, 32, 32)
    data = encode_mp4(frames, fps=8)
    full = decode_mp4(data)
    np.testing.assert_array_equal(decode_mp4(data, indices=[5, 1, 5]), full[[5, 1, 5]])
    with pytest.raises(ValueError, match="decodable frames"):
        decode_mp4(data, indices=[8])


def test_bad_frames_are_refused():
    with pytest.raises(ValueError, match="uint8"):
        encode_mp4(np.zeros((2, 8, 8, 3), np.float32), fps=8)
    with pytest.raises(ValueError, match="no frames"):
        encode_mp4(np.zeros((0, 8, 8, 3), np.uint8), fps=8)


@pytest.mark.skipif(not REAL.exists(), reason="shared sample videos absent")
def test_real_sample_decodes():
    frames = decode_mp4((REAL / "fashion_a.mp4").read_bytes(), indices=[0, 10])
    assert frames.shape == (2, 540, 414, 3)
    assert frames.std() > 10
