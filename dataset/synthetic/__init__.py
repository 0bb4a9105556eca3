"""A synthetic character world with exact ground truth.

Deterministic short videos of an articulated character (thin to broad, trousers to wide skirts)
walking, waving, dancing, turning or squatting, holding a ball or cup, carrying a box, behind a
table or in front of a chair, in procedural rooms. Each video comes with its character mask,
per-object masks, OpenPose-18 keypoints with visibility and a full-scene depth map, all read off
the same z-buffer as the pixels. Used to test preprocessing (oracle annotators), the training
data pipeline and training end to end without downloading anything.
"""

from dataset.synthetic.config import BODIES, CLOTHING, MOTIONS, OBJECTS, SynthConfig
from dataset.synthetic.crawl import load_sidecar, sidecar_for, write_crawl
from dataset.synthetic.preview import contact_sheet
from dataset.synthetic.render import SynthVideo, render_video

__all__ = [
    "BODIES", "CLOTHING", "MOTIONS", "OBJECTS", "SynthConfig", "SynthVideo", "contact_sheet",
    "load_sidecar", "render_video", "sidecar_for", "write_crawl",
]  # fmt: skip
