"""The z-buffer keeps the nearest surface per pixel, with the depth each primitive promises."""

import numpy as np
import pytest

from dataset.synthetic.raster import Facet, Tube, ZBuffer


def _sphere(owner, x, y, z, r):
    return Tube(owner, (200, 10, 10), (x, y, z), (x, y, z), r, r, r / 10, r / 10)


def test_nearer_sphere_wins_where_they_overlap_whatever_the_drawing_order():
    near, far = _sphere(1, 20, 20, 5.0, 8), _sphere(2, 26, 20, 6.0, 8)
    for order in ([near, far], [far, near]):
        buf = ZBuffer.empty(40, 48).draw_all(order)
        assert buf.owner[20, 23] == 1  # inside both
        assert buf.owner[20, 32] == 2  # only in the far one
        assert buf.owner[0, 0] == 0 and np.isinf(buf.depth[0, 0])


def test_sphere_depth_is_centre_minus_bulge_at_centre_and_centre_at_rim():
    buf = ZBuffer.empty(41, 41).draw_all([_sphere(3, 20, 20, 4.0, 10)])
    assert buf.depth[20, 20] == pytest.approx(4.0 - 1.0)
    assert 4.0 - 1.0 < buf.depth[20, 29] < 4.0  # toward the rim the surface recedes
    assert buf.owner[20, 31] == 0  # outside the radius


def test_flat_ended_tube_stops_at_its_ends_and_capsule_does_not():
    flat = Tube(1, (1, 2, 3), (10, 10, 1.0), (30, 10, 1.0), 4, 4, 0.1, 0.1, caps=False)
    capped = Tube(1, (1, 2, 3), (10, 10, 1.0), (30, 10, 1.0), 4, 4, 0.1, 0.1, caps=True)
    a, b = ZBuffer.empty(21, 41).draw_all([flat]), ZBuffer.empty(21, 41).draw_all([capped])
    assert a.owner[10, 8] == 0 and b.owner[10, 8] == 1
    assert a.owner[10, 20] == 1 and a.owner[13, 20] == 1 and a.owner[15, 20] == 0


def test_facet_depth_follows_its_plane():
    facet = Facet(5, (9, 9, 9), ((2, 2, 1.0), (30, 2, 3.0), (30, 20, 3.0), (2, 20, 1.0)))
    buf = ZBuffer.empty(24, 34).draw_all([facet])
    assert buf.depth[10, 2] == pytest.approx(1.0)
    assert buf.depth[10, 16] == pytest.approx(2.0)
    assert buf.owner[10, 31] == 0


def test_background_depth_hides_what_is_behind_it():
    colour = np.full((20, 20, 3), 50, np.uint8)
    depth = np.full((20, 20), 5.0, np.float32)
    depth[:, 10:] = 2.0  # a wall nearer than the sphere on the right half
    buf = ZBuffer(colour, depth).draw_all([_sphere(1, 10, 10, 4.0, 6)])
    assert buf.owner[10, 6] == 1 and buf.owner[10, 13] == 0
    assert buf.colour[10, 13].tolist() == [50, 50, 50]
