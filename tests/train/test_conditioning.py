"""Conditioning passes: object frames without objects are not encoded one by one."""

import torch

from train.components import tiny_vae
from train.conditioning import encode_objects, encode_video


class CountingVAE(torch.nn.Module):
    """The real tiny VAE, counting the images its encoder sees."""

    def __init__(self):
        super().__init__()
        self.vae, self.images = tiny_vae().eval(), 0

    def encode(self, x):
        self.images += x.shape[0]
        return self.vae.encode(x)

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.vae, name)


def test_object_latents_equal_full_encoding_with_fewer_images():
    torch.manual_seed(0)
    frames = torch.rand(2, 3, 4, 32, 32) * 2 - 1
    mask = torch.zeros(2, 1, 4, 32, 32)
    mask[0, :, 1, 8:16, 8:16] = 1  # one object in one frame of the first clip; none in the second
    objects = frames * mask
    vae = CountingVAE()
    with torch.no_grad():
        full = encode_video(vae, objects)
        assert vae.images == 8
        vae.images = 0
        fast = encode_objects(vae, objects, mask)
    assert vae.images == 2  # the frame with the object, and the blank frame once
    torch.testing.assert_close(fast, full, atol=1e-5, rtol=1e-4)
    with torch.no_grad():
        vae.images = 0
        every = encode_objects(vae, objects, torch.ones_like(mask))
    assert vae.images == 8
    torch.testing.assert_close(every, full, atol=1e-5, rtol=1e-4)
