"""Motions of the synthetic character: a :class:`Pose` as a function of time in seconds.

Each video draws a :class:`MotionStyle` (tempo, amplitude, heading, which hand gestures), then
:func:`pose_at` gives the pose at any time. Times are seconds, so the frame rate only decides
where the motion is sampled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dataset.synthetic.body import Pose

TAU = 2.0 * np.pi


@dataclass(frozen=True)
class MotionStyle:
    motion: str
    tempo: float  # cycle-rate multiplier
    amplitude: float  # 0.7 .. 1.2 of the nominal swing
    heading: float  # +1 or -1: walking or turning direction
    side: str  # the gesturing hand ("left" or "right")
    yaw0: float  # base facing, radians
    phase: float  # radians
    speed: float  # walking speed, metres per second
    duration: float  # clip length in seconds (centres the walk in the frame)
    track: float = np.inf  # half length (metres) of the path a walk paces back and forth on


def sample_style(rng: np.random.Generator, motion: str, duration: float) -> MotionStyle:
    yaw0 = {
        "walk": rng.uniform(0.95, 1.35),
        "wave": rng.uniform(-0.35, 0.35),
        "dance": rng.uniform(-0.3, 0.3),
        "turn": rng.uniform(-np.pi, np.pi),
        "squat": rng.choice([-1.0, 1.0]) * rng.uniform(0.45, 1.0),
    }[motion]
    return MotionStyle(
        motion=motion, tempo=rng.uniform(0.8, 1.25), amplitude=rng.uniform(0.75, 1.15),
        heading=float(rng.choice([-1.0, 1.0])), side=str(rng.choice(["left", "right"])),
        yaw0=float(yaw0), phase=rng.uniform(0, TAU), speed=rng.uniform(0.35, 0.6), duration=duration,
    )  # fmt: skip


def _gait_leg(phase: float, amp: float) -> tuple[float, float, float, float]:
    thigh = 0.42 * amp * np.sin(phase)
    knee = 0.65 * amp * max(0.0, np.cos(phase))  # the knee bends while the leg swings forward
    return (0.03, thigh, 0.02, thigh - knee)


def pace(distance: float, track: float, turn: float = 0.2) -> tuple[float, float]:
    """(position, facing) after walking ``distance`` from the middle of a track of half length
    ``track``, turning back at its ends. Facing is +-1 on the way, easing through 0 (toward
    the camera) within ``turn`` metres of an end, so the turn is smooth."""
    if not np.isfinite(track):
        return distance, 1.0
    u = (distance + track) % (4 * track)  # one lap: out 2*track, back 2*track
    out = u <= 2 * track
    x = -track + u if out else 3 * track - u
    ease = min(1.0, (track - abs(x)) / turn)
    return x, ease if out else -ease


def _walk(st: MotionStyle, t: float) -> Pose:
    ph = TAU * 0.9 * st.tempo * t + st.phase
    distance = st.speed * np.sin(st.yaw0) * (t - st.duration / 2)
    x, facing = pace(distance, st.track)
    yaw = st.heading * st.yaw0 * facing

    def arm(p):  # swings against the leg on its side
        swing = -0.35 * st.amplitude * np.sin(p)
        return (0.1, swing, 0.08, swing + 0.3)

    return Pose(
        yaw=yaw, x=st.heading * x, lean=0.06,
        arms={"left": arm(ph), "right": arm(ph + np.pi)},
        legs={"left": _gait_leg(ph, st.amplitude), "right": _gait_leg(ph + np.pi, st.amplitude)},
    )  # fmt: skip


def _wave(st: MotionStyle, t: float) -> Pose:
    w = TAU * 1.4 * st.tempo * t + st.phase
    other = "left" if st.side == "right" else "right"
    arms = {st.side: (2.2, 0.25, 2.75 + 0.4 * st.amplitude * np.sin(w), -0.25), other: (0.12, 0.05, 0.08, 0.15)}
    return Pose(yaw=st.yaw0 + 0.12 * np.sin(0.5 * w), sway=0.05 * np.sin(w), head_tilt=-0.06, arms=arms)


def _dance(st: MotionStyle, t: float) -> Pose:
    ph = TAU * 1.0 * st.tempo * t + st.phase
    a = st.amplitude

    def arm(p):
        return (1.2 + 0.7 * a * np.sin(p), 0.4 + 0.3 * np.cos(p), 1.6 + 0.9 * a * np.sin(p + 0.8), 0.5)

    def leg(p):
        lift = max(0.0, np.sin(p))
        return (0.12 + 0.1 * a * np.sin(p), 0.45 * a * lift, 0.06, -0.35 * a * lift)

    return Pose(
        yaw=st.yaw0 + 0.5 * a * np.sin(0.5 * ph), x=0.15 * np.sin(0.5 * ph), sway=0.12 * a * np.sin(ph),
        head_tilt=0.1 * np.sin(ph), arms={"left": arm(ph), "right": arm(ph + np.pi)},
        legs={"left": leg(ph), "right": leg(ph + np.pi)},
    )  # fmt: skip


def _turn(st: MotionStyle, t: float) -> Pose:
    period = 3.2 / st.tempo
    ph = TAU * 1.6 * st.tempo * t + st.phase
    arm = (0.35 + 0.08 * np.sin(ph), 0.1, 0.3, 0.45)

    def step(p):  # small steps on the spot while turning
        lift = 0.1 * max(0.0, np.sin(p))
        return (0.04, lift, 0.02, -lift)

    return Pose(
        yaw=st.yaw0 + st.heading * TAU * t / period, arms={"left": arm, "right": arm},
        legs={"left": step(ph), "right": step(ph + np.pi)},
    )  # fmt: skip


def _squat(st: MotionStyle, t: float) -> Pose:
    period = 2.6 / st.tempo
    k = 0.5 * (1.0 - np.cos(TAU * t / period)) * min(st.amplitude, 1.0)
    leg = (0.1 + 0.15 * k, 1.4 * k, 0.05 + 0.1 * k, -0.6 * k)
    arm = (0.15, 1.3 * k, 0.1, 1.4 * k + 0.1)
    return Pose(yaw=st.yaw0, lean=0.45 * k, arms={"left": arm, "right": arm}, legs={"left": leg, "right": leg})


_MOTIONS = {"walk": _walk, "wave": _wave, "dance": _dance, "turn": _turn, "squat": _squat}


def pose_at(style: MotionStyle, t: float) -> Pose:
    """The pose of ``style`` at ``t`` seconds."""
    return _MOTIONS[style.motion](style, t)


def carry_box(pose: Pose) -> Pose:
    """``pose`` with both forearms held forward at chest height, palms on a box's sides."""
    pose.arms = {"left": (0.2, 0.45, 0.12, 1.35), "right": (0.2, 0.45, 0.12, 1.35)}
    return pose
