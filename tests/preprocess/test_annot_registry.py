"""Backends by name: the built-in table, and backends outside the package named by import path."""

import pytest

from preprocess.annotators import build_annotator
from preprocess.annotators.oracle import OracleLocalise


def test_a_backend_named_by_import_path_is_built_with_its_config():
    backend = build_annotator("localise", "preprocess.annotators.oracle:OracleLocalise", {"keyframe_every": 5})
    assert type(backend) is OracleLocalise and backend.keyframe_every == 5


@pytest.mark.parametrize("name,needle", [
    ("preprocess.annotators.oracle:OracleSegment", "not an Annotator subclass whose role is 'localise'"),
    ("preprocess.annotators.oracle:mask_box", "not an Annotator subclass"),
    ("preprocess.annotators.oracle:NoSuchClass", "cannot be imported"),
    ("no_such_package.module:Thing", "cannot be imported"),
    ("no_such_backend", "choose one of .*oracle.* or name one by its import path"),
])
def test_a_wrong_backend_name_says_what_is_wrong(name, needle):
    with pytest.raises(ValueError, match=needle):
        build_annotator("localise", name)
