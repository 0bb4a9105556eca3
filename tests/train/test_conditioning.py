"""Conditioning passes: one stack of images through the VAE encoder; object frames without
objects are not encoded one by one; a fixed-shape encoder sees one input size."""

import copy
from dataclasses import replace

import torch

from dataset.batch import AA2Batch
from model import AA2Options
from train.components import random_image_encoder, tiny_vae
from train.conditioning import (ChunkTunedEncoder, build_inputs, call_sizes, compile_encoder, encode_objects,
                                encode_video, encoder_call_sizes, images_per_step)


def counting_vae():
    """The real tiny VAE; ``vae.seen`` lists the batch size of every encoder call."""
    vae = tiny_vae().eval()
    vae.seen = []
    vae.encoder.register_forward_pre_hook(lambda _, args: vae.seen.append(len(args[0])))
    return vae


def test_object_latents_equal_full_encoding_with_fewer_images():
    torch.manual_seed(0)
    frames = torch.rand(2, 3, 4, 32, 32) * 2 - 1
    mask = torch.zeros(2, 1, 4, 32, 32)
    mask[0, :, 1, 8:16, 8:16] = 1  # one object in one frame of the first clip; none in the second
    objects = frames * mask
    vae = counting_vae()
    with torch.no_grad():
        full = encode_video(vae, objects)
        assert sum(vae.seen) == 8
        vae.seen.clear()
        fast = encode_objects(vae, objects, mask)
    assert sum(vae.seen) == 2  # the frame with the object, and the blank frame once
    torch.testing.assert_close(fast, full, atol=1e-5, rtol=1e-4)
    with torch.no_grad():
        vae.seen.clear()
        every = encode_objects(vae, objects, torch.ones_like(mask))
    assert sum(vae.seen) == 8
    torch.testing.assert_close(every, full, atol=1e-5, rtol=1e-4)


def clip():
    return random_image_encoder(16, full=False).eval()


def _batch(b=2, f=3, hw=32):
    g = torch.Generator().manual_seed(1)
    video = lambda c=3: torch.rand(b, c, f, hw, hw, generator=g) * 2 - 1  # noqa: E731
    object_mask = torch.zeros(b, 1, f, hw, hw, dtype=torch.bool)
    object_mask[1, :, 2, 4:12, 4:12] = True  # one frame of one clip shows an object
    return AA2Batch(frames=video(), environment=video(), mask=torch.zeros(b, 1, f, hw, hw), character=torch.zeros(b, 1, f, hw, hw),
                    objects=video() * object_mask, object_mask=object_mask, skeleton=video(), struct_depth=video(1),
                    reference=torch.rand(b, 3, hw, hw, generator=g) * 2 - 1, reference_clip=torch.rand(b, 3, 224, 224, generator=g),
                    keys=[str(i) for i in range(b)], packed=False)


def test_one_stack_matches_encoding_each_part_and_padding_leaves_latents_unchanged():
    batch, vae, options = _batch(), counting_vae(), AA2Options()
    with torch.no_grad():
        plain = build_inputs(batch, vae, clip(), options, torch.Generator().manual_seed(0), vae_chunk=4)
        calls = list(vae.seen)
        vae.seen.clear()
        fixed = build_inputs(batch, vae, clip(), options, torch.Generator().manual_seed(0), vae_chunk=4, vae_pad_to=4)
        env = encode_video(vae, batch.environment)
        ref = encode_video(vae, batch.reference.unsqueeze(2))[:, :, 0]
        objects = encode_objects(vae, batch.objects, batch.object_mask)
    images = 6 + 2 + 6 + 1 + 1  # target frames, references, environment frames, the shown object frame, one blank
    assert calls == [4, 4, 4, 4] and sum(calls) == images  # one stack of 16 images, 4 a call
    for a, b in ((plain.env_latents, env), (plain.ref_latents, ref), (plain.object_latents, objects)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    for name in ("latents", "ref_latents", "env_latents", "object_latents"):
        torch.testing.assert_close(getattr(fixed, name), getattr(plain, name))


def test_padding_rounds_the_last_call_up_to_a_multiple_and_drops_the_padding():
    batch, vae, options = _batch(), counting_vae(), AA2Options(use_object=False)
    with torch.no_grad():
        plain = build_inputs(batch, vae, clip(), options, torch.Generator().manual_seed(0), vae_chunk=5)
        assert vae.seen == [5, 5, 4]  # 6 target + 2 reference + 6 environment = 14
        for chunk, pad_to, calls in ((5, 5, [5, 5, 5]), (6, 4, [6, 6, 4]), (6, 3, [6, 6, 3]), (4, 4, [4, 4, 4, 4]),
                                     (6, 5, [6, 6, 5])):
            vae.seen.clear()
            padded = build_inputs(batch, vae, clip(), options, torch.Generator().manual_seed(0), vae_chunk=chunk,
                                  vae_pad_to=pad_to)
            assert vae.seen == calls, (chunk, pad_to)
            assert padded.object_latents is None
            for name in ("latents", "ref_latents", "env_latents"):
                torch.testing.assert_close(getattr(padded, name), getattr(plain, name))


def test_frames_shown_read_on_the_host_select_the_same_object_frames():
    """``AA2Batch.to`` notes on the host which frames show objects; the step selects the frames to
    encode from that note (no read-back from the device) and gets the inputs it gets without it."""
    batch = _batch(f=4)
    batch.object_mask[0, :, 0, 1:3, 1:3] = True  # clip 0 frame 0, clip 1 frame 2 (from _batch)
    batch = batch.to("cpu")
    assert batch.object_shown.tolist() == [True, False, False, False, False, False, True, False]
    vae, options, encoder = counting_vae(), AA2Options(), clip()
    with torch.no_grad():
        noted = build_inputs(batch, vae, encoder, options, torch.Generator().manual_seed(0))
        images = sum(vae.seen)
        vae.seen.clear()
        read_back = build_inputs(replace(batch, object_shown=None), vae, encoder, options, torch.Generator().manual_seed(0))
    assert images == sum(vae.seen) == 8 + 2 + 8 + 2 + 1  # targets, references, environments, 2 shown frames, a blank
    torch.testing.assert_close(noted.object_latents, read_back.object_latents)
    with torch.no_grad():
        ones = replace(batch, object_mask=torch.ones_like(batch.object_mask), objects=batch.frames)
        everything = build_inputs(replace(ones, object_shown=ones.shown_frames()), vae, encoder, options,
                                  torch.Generator().manual_seed(0))
        full = encode_video(vae, batch.frames)
    torch.testing.assert_close(everything.object_latents, full, atol=1e-5, rtol=1e-4)  # every frame shown: no blank


def test_inputs_keep_one_layout_whether_or_not_a_blank_object_frame_is_encoded():
    """A compiled model guards on its inputs' strides: a step whose clips show objects in every
    frame and one that encodes a blank frame must give inputs laid out alike, also when the
    encoder returns channels-last moments (as a compiled encoder may)."""
    batch, vae, options, encoder = _batch(f=4), counting_vae(), AA2Options(), clip()
    vae.encoder.register_forward_hook(lambda _, __, out: out.contiguous(memory_format=torch.channels_last))
    ones = replace(batch, object_mask=torch.ones_like(batch.object_mask), objects=batch.frames)
    with torch.no_grad():
        some = build_inputs(batch.to("cpu"), vae, encoder, options, torch.Generator().manual_seed(0))
        every = build_inputs(ones.to("cpu"), vae, encoder, options, torch.Generator().manual_seed(0))
    for name in ("latents", "ref_latents", "env_latents", "object_latents"):
        a, b = getattr(some, name), getattr(every, name)
        assert a.shape == b.shape and a.stride() == b.stride(), (name, a.stride(), b.stride())
        assert a.permute(0, 2, 1, 3, 4).is_contiguous() if a.ndim == 5 else a.is_contiguous(), name


def test_the_encoder_sizes_a_step_can_make_are_the_ones_predicted_from_the_batch_shape():
    """Every pattern of frames showing objects, with and without objects and environment: each
    step's image count lies in :func:`images_per_step`, its calls are :func:`call_sizes` of it, and
    all patterns together make exactly the sizes :func:`encoder_call_sizes` lists (the ones the
    trainer compiles up front)."""
    b, f = 2, 3
    for options in (AA2Options(), AA2Options(use_environment=False), AA2Options(use_object=False)):
        counts, calls = set(), {(chunk, pad_to): set() for chunk, pad_to in ((4, 3), (5, 0), (20, 8))}
        for pattern in range(2 ** (b * f)):
            shown = torch.tensor([(pattern >> i) & 1 for i in range(b * f)], dtype=torch.bool).view(b, 1, f, 1, 1)
            batch = _batch(b, f, hw=16)
            object_mask = torch.zeros_like(batch.object_mask)
            object_mask[..., 2:6, 2:6] = shown
            batch = replace(batch, object_mask=object_mask, objects=batch.frames * object_mask)
            vae = counting_vae()
            with torch.no_grad():
                build_inputs(batch, vae, clip(), options, vae_chunk=1000)  # one call: the step's image count
                (n,) = vae.seen
                counts.add(n)
                for (chunk, pad_to), sizes in calls.items():
                    vae.seen.clear()
                    build_inputs(batch, vae, clip(), options, vae_chunk=chunk, vae_pad_to=pad_to)
                    assert vae.seen == call_sizes(n, chunk, pad_to)
                    sizes.update(vae.seen)
        assert counts == set(images_per_step(b, f, options)), options
        for (chunk, pad_to), sizes in calls.items():
            assert sorted(sizes, reverse=True) == encoder_call_sizes(b, f, options, chunk, pad_to), (options, chunk)


def test_the_image_encoder_is_launched_before_the_vae_encoder():
    """On a GPU the image encoder's small kernels must queue before the VAE's long ones (see
    build_inputs): the order of launches is the order of the calls."""
    batch, vae, encoder, calls = _batch(), tiny_vae().eval(), clip(), []
    vae.encoder.register_forward_pre_hook(lambda *_: calls.append("vae"))
    encoder.register_forward_pre_hook(lambda *_: calls.append("image encoder"))
    with torch.no_grad():
        build_inputs(batch, vae, encoder, AA2Options(), torch.Generator().manual_seed(0), vae_chunk=4)
    assert calls == ["image encoder"] + ["vae"] * 4


def test_only_the_full_calls_compile_with_tuned_kernels_when_tuning_the_full_calls():
    """``model.vae_tuning``: ``full`` compiles the calls of ``vae_chunk`` images with Inductor's
    coordinate-descent tuning and the last, padded call without; ``all`` tunes both, ``none``
    neither. A real ``torch.compile`` with a backend that records the options each graph was
    compiled with and the images it takes (and runs the graph as traced): the latents stay those
    of the eager encoder."""
    batch, base, image_encoder = _batch(), tiny_vae().eval(), clip()  # 16 images: calls of 5, 5, 5 and 1 padded to 3
    with torch.no_grad():
        eager = build_inputs(batch, base, image_encoder, AA2Options(), torch.Generator().manual_seed(0),
                             vae_chunk=5, vae_pad_to=3)
    for tuning, tuned_sizes in (("full", {5}), ("all", {5, 3}), ("none", set())):
        torch._dynamo.reset()
        compiled = []

        def backend(gm, inputs, options):
            (n,) = {t.shape[0] for t in inputs if t.dim() == 4 and tuple(t.shape[-2:]) == (32, 32)}
            compiled.append((n, options["coordinate_descent_tuning"]))
            return gm.forward

        vae = copy.deepcopy(base)
        vae.encoder = compile_encoder(vae.encoder, tuning, 5, backend=backend)
        assert isinstance(vae.encoder, ChunkTunedEncoder) == (tuning == "full")
        with torch.no_grad():
            inputs = build_inputs(batch, vae, image_encoder, AA2Options(), torch.Generator().manual_seed(0),
                                  vae_chunk=5, vae_pad_to=3)
        assert sorted(compiled) == sorted((n, n in tuned_sizes) for n in (5, 3)), tuning  # each size once
        torch.testing.assert_close(inputs.latents, eager.latents)
        torch.testing.assert_close(inputs.env_latents, eager.env_latents)
        torch.testing.assert_close(inputs.object_latents, eager.object_latents)
    torch._dynamo.reset()
