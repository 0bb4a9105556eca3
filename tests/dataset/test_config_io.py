"""Config loading: recipes + YAML + dotted overrides, with errors that name the bad key."""

from dataclasses import dataclass, field

import pytest

from dataset.config_io import load_config, save_config


@dataclass
class Inner:
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: str | None = None

    def __post_init__(self):
        if self.lr <= 0:
            raise ValueError("inner.lr must be positive")


@dataclass
class Outer:
    steps: int = 10
    name: str = "run"
    inner: Inner = field(default_factory=Inner)


def test_yaml_then_overrides_win(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("steps: 20\ninner:\n  lr: 0.5\n")
    cfg = load_config(Outer, Outer(name="recipe"), path, ["inner.lr=2", "inner.schedule=cosine"])
    assert cfg == Outer(steps=20, name="recipe", inner=Inner(lr=2.0, schedule="cosine"))
    assert isinstance(cfg.inner.lr, float)


def test_yaml_boolean_words_stay_words_on_the_command_line(tmp_path):
    assert load_config(Outer, Outer(), overrides=["name=no", "inner.schedule=off"]) == Outer(
        name="no", inner=Inner(schedule="off"))
    path = tmp_path / "c.yaml"
    path.write_text("name: no\n")
    with pytest.raises(ValueError, match="quote it"):
        load_config(Outer, path=path)


def test_save_and_load_round_trip(tmp_path):
    cfg = Outer(steps=3, inner=Inner(betas=(0.8, 0.9)))
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(Outer, path=tmp_path / "c.yaml") == cfg


@pytest.mark.parametrize(
    "override,needle",
    [
        ("inner.lrr=1", "inner.lrr"),
        ("stepz=1", "stepz"),
        ("steps=ten", "steps: expected int"),
        ("inner.lr=-1", "inner.lr must be positive"),
        ("inner=3", "expected a mapping"),
        ("nonsense", "section.key=value"),
    ],
)
def test_bad_overrides_fail_with_the_key(override, needle):
    with pytest.raises(ValueError, match=needle):
        load_config(Outer, Outer(), overrides=[override])
