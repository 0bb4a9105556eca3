"""Sapiens2 backends through transformers on tiny random models, and our heatmap convention
checked against transformers' own UDP heatmap encoder."""

import numpy as np
import pytest
import torch

from preprocess.annotators import build_annotator
from preprocess.models.topdown import crop_to_frame, decode_heatmaps, topdown_crops

from .annot_clips import make_clip, person_segmentation, to_sample

TINY = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_attention_heads=1,
            num_register_tokens=2, image_size=[64, 48], patch_size=16, num_first_full_attention_layers=1,
            num_last_full_attention_layers=1)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    from transformers import Sapiens2Config, Sapiens2ForPointmapEstimation, Sapiens2ForPoseEstimation

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("sapiens2")
    Sapiens2ForPoseEstimation(Sapiens2Config(**TINY, num_labels=17, head_config=dict(upsample_out_channels=[16, 16], conv_out_channels=[16]))
                              ).save_pretrained(root / "pose")
    Sapiens2ForPointmapEstimation(Sapiens2Config(**TINY, num_labels=3, head_config=dict(upsample_out_channels=[8] * 4, conv_out_channels=[8]))
                                  ).save_pretrained(root / "depth")
    return root


def test_pose_and_pointmap_depth_make_a_schema_v1_sample(folders):
    clip = make_clip(t=3)
    seg = person_segmentation(clip, empty_frames=(1,))
    common = dict(input_hw=(64, 48), device="cpu", dtype="float32", batch_size=2, format="coco_17")
    pose = build_annotator("pose", "sapiens2", dict(model=str(folders / "pose"), **common))([clip], segmentations=[seg])[0]
    depth = build_annotator("depth", "sapiens2", dict(model=str(folders / "depth"), **common))([clip], segmentations=[seg])[0]
    assert pose.keypoints.shape == (3, 17, 3) and (pose.keypoints[1, :, 2] == 0).all()
    assert depth.shape == (3, 24, 32) and np.isnan(depth[1]).all() and np.isfinite(depth[0][seg.character[0, ::2, ::2]]).all()
    to_sample(clip, seg, pose.keypoints, depth, "coco_17")


def test_wrong_keypoint_count_for_the_format_is_a_config_error(folders):
    clip = make_clip(t=2)
    backend = build_annotator("pose", "sapiens2", dict(model=str(folders / "pose"), input_hw=(64, 48), device="cpu",
                                                       dtype="float32", format="goliath_308"))
    with pytest.raises(ValueError, match="17 keypoints"):
        backend([clip], segmentations=[person_segmentation(clip)])


def test_missing_folder_fails_at_construction(tmp_path):
    with pytest.raises(FileNotFoundError, match="sapiens2-pose"):
        build_annotator("pose", "sapiens2", dict(model=str(tmp_path / "none")))


def test_heatmap_decoding_inverts_transformers_udp_encoder():
    from transformers.models.sapiens2.image_processing_sapiens2 import generate_udp_gaussian_heatmaps

    box_xywh = [37.0, 20.0, 90.0, 160.0]
    points = [[60.3, 41.7, 2], [100.9, 150.2, 2], [80.0, 99.4, 2]]
    heatmaps, _ = generate_udp_gaussian_heatmaps([[box_xywh]], [[points]], (1024, 768), 4, 6.0)
    hm = heatmaps[0].reshape(1, len(points), 256, 192)
    xy, score = decode_heatmaps(hm)
    x, y, w, h = box_xywh
    crops = topdown_crops(torch.tensor([[x, y, x + w, y + h]]))
    frame = crop_to_frame(xy, crops, (256, 192))
    assert torch.allclose(frame[0], torch.tensor(points)[:, :2], atol=0.1)
    assert (score > 0.99).all()
