"""Finding a user's space: specs, defaults, entry points, other processes, and bad user code.

Every bad-code case of ``tests/user_project/bad`` must fail before any trial with one line that
names the user's file and line (``spaces.SpaceError``).
"""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import optuna
import pytest

import spaces
from spaces import BuildFnSpace, SpaceError

PROJECT = Path(__file__).resolve().parents[1] / "user_project"
BAD = PROJECT / "bad"
ROOT = Path(__file__).resolve().parents[2]
SHAPE, CLASSES = (28, 28, 1), 10


def one_line_at(error: BaseException, file: str, line: int | None) -> str:
    """The message, checked to be one line starting with ``.../file:line:``."""
    message = str(error)
    assert "\n" not in message and message
    where = re.escape(file) + (f":{line}:" if line is not None else ":")
    assert re.match(rf"^(.*/)?{where}", message), message
    return message


@pytest.mark.parametrize(
    ("file", "line", "what"),
    [
        ("syntax_error.py", 6, "does not import: SyntaxError: expected ':'"),
        ("import_error.py", 3, "No module named 'keras_layers_that_do_not_exist'"),
        (
            "build_raises.py",
            11,
            "build raised ValueError: Unrecognized keyword arguments passed to Dense",
        ),
        (
            "not_a_model.py",
            7,
            "build returned NoneType, not a keras.Model (is `return model` missing?)",
        ),
        ("wrong_classes.py", 7, "outputs shape (None, 5), but the data has 10 classes"),
    ],
)
def test_bad_user_code_fails_in_one_line_with_file_and_line(
    file: str, line: int, what: str
) -> None:
    with pytest.raises(SpaceError) as caught:
        spaces.check(spaces.load_space(str(BAD / file)), SHAPE, CLASSES)
    assert what in one_line_at(caught.value, file, line)
    assert isinstance(caught.value, ValueError)


def test_a_missing_name_lists_what_the_file_defines() -> None:
    with pytest.raises(SpaceError, match=r"build_raises\.py: has no 'nope' \(it defines: build\)$"):
        spaces.load_space(f"{BAD / 'build_raises.py'}:nope")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no/such/file.py", "no/such/file.py: no such file"),
        ("no_such_package.models:build", "no module 'no_such_package.models'"),
        ("not a spec", "neither a file path.py"),
    ],
)
def test_a_spec_that_names_nothing(spec: str, message: str) -> None:
    with pytest.raises(SpaceError, match=re.escape(message)):
        spaces.load_space(spec)


def test_an_unknown_name_lists_the_spaces() -> None:
    with pytest.raises(
        KeyError, match="unknown model family 'nosuch'; choose one of: cifar_cnn, cnn"
    ):
        spaces.get_space("nosuch")


# --- what a spec names ---------------------------------------------------------------------------


def test_the_default_names_and_the_kinds_of_object(tmp_path: Path) -> None:
    tiny = spaces.load_space(str(PROJECT / "my_space.py"))  # SPACE
    assert tiny.name == "tiny_cnn" and list(tiny.presets) == ["small"]
    spaces.check(tiny, SHAPE, CLASSES)
    guide = spaces.load_space(str(PROJECT / "kt_getting_started.py"))  # its one build* function
    assert isinstance(guide, BuildFnSpace) and guide.name == "kt_getting_started"
    assert guide is spaces.load_space(f"{PROJECT / 'kt_getting_started.py'}:build_model")
    assert guide.spec == f"{PROJECT / 'kt_getting_started.py'}:build_model"
    cls = spaces.load_space(f"{PROJECT / 'my_space.py'}:TinyCnnSpace")  # a class: instantiated
    assert cls.name == "tiny_cnn" and cls is not tiny

    (tmp_path / "models.py").write_text(
        textwrap.dedent("""
        import keras

        def build_small(hp):
            return keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])

        def build_big(hp):
            return build_small(hp)

        NOT_A_SPACE = 42
    """)
    )
    with pytest.raises(
        SpaceError, match=r"models\.py: defines several spaces \(build_small, build_big\)"
    ):
        spaces.load_space(str(tmp_path / "models.py"))
    small = spaces.load_space(f"{tmp_path / 'models.py'}:build_small")
    assert small.name == "models.build_small"  # a name that says which of several
    with pytest.raises(SpaceError, match="NOT_A_SPACE is a int, not a Space"):
        spaces.load_space(f"{tmp_path / 'models.py'}:NOT_A_SPACE")


def test_a_space_subclass_without_a_name_is_refused(tmp_path: Path) -> None:
    (tmp_path / "nameless.py").write_text(
        textwrap.dedent("""
        from spaces import Space

        class Nameless(Space):
            def sample_arch(self, hp):
                return hp.int("n", 1, 2)

            def build_body(self, arch, x, regularizer):
                return x
    """)
    )
    with pytest.raises(SpaceError, match=r"nameless\.py:Nameless: Nameless has no name"):
        spaces.load_space(f"{tmp_path / 'nameless.py'}:Nameless")


def test_a_module_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(PROJECT))
    space = spaces.get_space("kt_getting_started:build_model")
    assert space.name == "kt_getting_started" and space.spec == "kt_getting_started:build_model"
    assert spaces.get_space(space.spec) is space


# --- installed packages: the entry-point group ---------------------------------------------------


def test_an_installed_package_registers_a_space(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "site"
    (package / "userfamilies").mkdir(parents=True)
    (package / "userfamilies" / "__init__.py").write_text("")
    (package / "userfamilies" / "guide.py").write_text(
        (PROJECT / "kt_getting_started.py").read_text()
    )
    info = package / "userfamilies-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: userfamilies\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[{spaces.ENTRY_POINT_GROUP}]\nguide_family = userfamilies.guide:build_model\n"
    )
    monkeypatch.syspath_prepend(str(package))
    assert "guide_family" in spaces.space_names()
    space = spaces.get_space("guide_family")
    assert isinstance(space, BuildFnSpace) and space.name == "guide_family"
    assert space.spec == "guide_family" and spaces.get_space("guide_family") is space
    spaces.check(space, SHAPE, CLASSES)


# --- another process resolves the same space ------------------------------------------------------


def test_another_process_resolves_a_spec_to_the_same_space(tmp_path: Path) -> None:
    """What a ``--workers`` process does: ``get_space(space.spec)``, from another folder."""
    space = spaces.load_space(os.path.relpath(PROJECT / "kt_getting_started.py", Path.cwd()))
    code = (
        "import sys, spaces; s = spaces.get_space(sys.argv[1]); "
        "print(s.name, s.spec, sorted(s.describe()), sep='|')"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = (
        subprocess.run(
            [sys.executable, "-c", code, space.spec],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    assert out.split("|") == [space.name, space.spec, str(sorted(space.describe()))]


# --- a space pickles as its spec -----------------------------------------------------------------

USER_SPACES = [
    pytest.param(f"{PROJECT / 'kt_getting_started.py'}:build_model", id="build-hp"),
    pytest.param(str(PROJECT / "kt_hypermodel.py"), id="hypermodel"),
    pytest.param(str(PROJECT / "my_space.py"), id="space-subclass"),
]


#: each layer's class, output shape and parameter count, and the model's: the same in both processes
MODEL_SUMMARY = """
def model_summary(model):
    layers = [(type(layer).__name__, list(layer.output.shape), layer.count_params()) for layer in model.layers]
    return [layers, model.count_params()]
"""


def test_user_spaces_pickle_as_their_spec_and_build_the_same_model_in_a_fresh_process(
    tmp_path: Path,
) -> None:
    """What a process that gets a pickled space does (a ``--workers`` child, a saved artifact): a
    fresh interpreter, in another folder, unpickles the user's space (its build function or
    classes live in a file only the loader imports), samples the same candidate from the same
    parameters and builds the same model."""
    namespace: dict[str, Any] = {}
    exec(MODEL_SUMMARY, namespace)  # noqa: S102 - the one definition both processes run
    model_summary = namespace["model_summary"]
    loaded, expected = [], []
    for param in USER_SPACES:
        space = spaces.load_space(param.values[0])
        study = optuna.create_study(
            storage=optuna.storages.InMemoryStorage(), sampler=optuna.samplers.RandomSampler(seed=1)
        )
        trial = study.ask()
        candidate = space.sample(spaces.TrialParams(trial))
        assert pickle.loads(pickle.dumps(space)) is space  # in this process: the very space
        # the space first: unpickling it loads the user's file, where the candidate's classes live
        loaded.append((space, candidate, trial.params))
        model = space.build_model(candidate, SHAPE, CLASSES)
        expected.append([space.name, space.spec, True, model_summary(model)])
    (tmp_path / "spaces.pickle").write_bytes(pickle.dumps(loaded))
    code = MODEL_SUMMARY + textwrap.dedent("""
        import json, pickle, sys
        import spaces
        out = []
        for space, candidate, params in pickle.loads(open(sys.argv[1], "rb").read()):
            model = space.build_model(candidate, (28, 28, 1), 10)
            same = space.from_params(params) == candidate and spaces.get_space(space.spec) is space
            out.append([space.name, space.spec, same, model_summary(model)])
        print(json.dumps(out))
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "spaces.pickle")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == json.loads(json.dumps(expected))


def test_a_space_made_in_this_process_pickles_by_value() -> None:
    """A space no spec finds (a notebook's) has no spec to pickle as: it pickles as an object."""
    space = type(spaces.FAMILIES["cnn"])()
    assert space.spec is None
    copy = pickle.loads(pickle.dumps(space))
    assert copy is not space and copy == space and copy.spec is None
