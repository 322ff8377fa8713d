"""Config, preset and theme files anyone may have written: each problem is one line, never a
traceback, a hang or a config that breaks every later command."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import seed_path
from tui.commands.check_report import diagnose_target
from tui.diagnosis.config import ALLOWED, DEFAULTS, ConfigError, load_thresholds
from tui.diagnosis.engine import DiagnosisEngine
from tui.runs.presets import PresetError, get_preset, load_presets, plan_restart
from tui.app.textual_themes import textual_theme
from tui.view.theme_files import (ROLE_VARIABLES, SHIPPED_THEMES_DIR, THEME_FIELDS, ThemeFileError, load_theme_file,
                             load_theme_specs)
from tui.settings.user_config import UserConfigError, remember_theme, remembered_theme, user_config_path
from tui.settings.yaml_documents import MAX_EXPANDED_VALUES, YamlDocumentError, read_yaml_file
from trainers.flag_config import parse_flags

TRAINWATCH = os.path.join(os.path.dirname(sys.executable), "trainwatch")
PLATEAU_LOG = seed_path("seed000_tcn_plateau")  # a real Keras CSV log with an LR column
NOT_UTF8 = b"name: caf\xe9\n"  # Latin-1, as an editor on another machine may save it
EXPANSION = f"expands to more than {MAX_EXPANDED_VALUES:,} values"


def alias_bomb(levels: int = 7) -> str:
    """A "billion laughs": each level is nine aliases of the one before. Seven levels stand for 9^7
    (4.8 million) values: far past the limit, yet small enough that code without it still finishes
    walking them (and so fails the test instead of hanging the suite)."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def trainwatch(*args: str, cwd: str | None = None, env_home: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if env_home is not None:
        env["XDG_CONFIG_HOME"] = env_home
    return subprocess.run([TRAINWATCH, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


def theme_text(name: str, **changes) -> str:
    """The shipped dark theme's file with another name (and any keys changed)."""
    document = yaml.safe_load(open(os.path.join(SHIPPED_THEMES_DIR, "trainwatch-dark.yaml")))
    document.update(name=name, **changes)
    return yaml.safe_dump(document, sort_keys=False)


def user_dir(kind: str) -> str:
    path = os.path.join(os.path.dirname(user_config_path()), kind)
    os.makedirs(path, exist_ok=True)
    return path


# The loader all of them share -------------------------------------------------------------------

def test_special_files_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)  # nobody writes it: a blocking open would wait for ever
    link = tmp_path / "zero.yaml"
    link.symlink_to("/dev/zero")
    for path in (fifo, link):
        with pytest.raises(YamlDocumentError, match="not a regular file"):
            read_yaml_file(str(path))
    big = tmp_path / "big.yaml"
    big.write_text("x: " + "a" * (2 << 20) + "\n")
    with pytest.raises(YamlDocumentError, match="larger than the 1024 KiB"):
        read_yaml_file(str(big))
    with pytest.raises(YamlDocumentError) as missing:
        read_yaml_file(str(tmp_path / "nope.yaml"))
    assert missing.value.missing and str(missing.value) == "no such file or directory"


@pytest.mark.parametrize("text, reason", [
    (alias_bomb(), EXPANSION),
    ("a: &a [1, *a]\n", "recursive alias *a"),
    ("a: &a {b: *a}\n", "recursive alias *a"),
    ("[" * 400 + "]" * 400, "nested more than 100 levels"),
    ("a: 0x" + "f" * 5000 + "\n", None),  # fine to read; error texts never print it whole
    ("a: 1" + "0" * 5000 + "\n", "not valid YAML: exceeds the limit"),
])
def test_alias_bombs_recursion_and_depth_are_refused(tmp_path, text, reason):
    path = tmp_path / "doc.yaml"
    path.write_text(text)
    if reason is None:
        assert read_yaml_file(str(path))["a"] > 10 ** 4000
        return
    with pytest.raises(YamlDocumentError) as error:
        read_yaml_file(str(path))
    assert reason.lower() in str(error.value).lower() and "\n" not in str(error.value)


# Non-UTF-8 files ---------------------------------------------------------------------------------

def test_a_non_utf8_theme_is_one_error_line_and_the_others_still_load():
    path = os.path.join(user_dir("themes"), "latin1.yaml")
    open(path, "wb").write(NOT_UTF8)
    specs, errors = load_theme_specs(check=textual_theme)
    assert errors == [f"{path}: cannot read theme (not UTF-8 text (byte 0xe9 at offset 9))"]
    assert {"trainwatch-dark", "trainwatch-light", "trainwatch-high-contrast"} <= {spec.name for spec in specs}


def test_a_non_utf8_preset_is_one_line_from_trainwatch_presets(tmp_path):
    path = os.path.join(user_dir("presets"), "latin1.yaml")
    open(path, "wb").write(NOT_UTF8)
    result = trainwatch("presets", env_home=os.environ["XDG_CONFIG_HOME"])
    assert result.returncode == 0 and "regularize" in result.stdout
    assert one_line(result.stderr) == f"trainwatch: {path}: unreadable preset (not UTF-8 text (byte 0xe9 at offset 9))"


def test_a_non_utf8_user_config_is_a_warning_and_check_still_runs():
    os.makedirs(os.path.dirname(user_config_path()), exist_ok=True)
    open(user_config_path(), "wb").write(b"theme: caf\xe9\n")
    result = trainwatch("check", PLATEAU_LOG, env_home=os.environ["XDG_CONFIG_HOME"])
    assert result.returncode == 1 and "plateau" in result.stdout  # diagnosed with the default thresholds
    assert one_line(result.stderr) == (f"trainwatch: warning: {user_config_path()}: not UTF-8 text (byte 0xe9 at "
                                       "offset 10); using the default diagnosis thresholds")
    assert remembered_theme() is None


def test_a_non_utf8_config_given_to_check_is_refused_in_one_line(tmp_path):
    config = tmp_path / "thresholds.yaml"
    config.write_bytes(b"diagnosis: {plateau: {min_evals: 8}} # \xff\n")
    result = trainwatch("check", PLATEAU_LOG, "--config", str(config))
    assert result.returncode == 2
    assert one_line(result.stderr) == f"trainwatch: {config}: cannot read config (not UTF-8 text (byte 0xff at offset 39))"


# Themes: colours and dark -----------------------------------------------------------------------

@pytest.mark.parametrize("changes, message", [
    ({"primary": "notacolour"}, "primary must be a colour such as \"#5aa9e6\" or \"red\", got 'notacolour'"),
    ({"background": "#12345"}, "background must be a colour"),
    ({"dark": "yes"}, "dark must be true or false, got 'yes'"),
    ({"dark": 1}, "dark must be true or false, got 1"),
    ({"primary": 5}, "primary must be a colour such as \"#5aa9e6\", got 5"),
    ({"luminosity_spread": "wide"}, "luminosity_spread must be a number from 0 to 1, got 'wide'"),
    ({"variables": {"metric-train": "zzz"}}, "variables.metric-train must be a colour"),
])
def test_a_theme_with_a_bad_value_is_refused_and_the_shipped_one_stays(changes, message):
    """The user's file overrides the shipped default theme by name; refused, it leaves that one in place."""
    document = yaml.safe_load(theme_text("trainwatch-dark"))
    variables = {**document["variables"], **changes.pop("variables", {})}
    path = os.path.join(user_dir("themes"), "mine.yaml")
    open(path, "w").write(theme_text("trainwatch-dark", variables=variables, **changes))
    specs, errors = load_theme_specs(check=textual_theme)
    assert len(errors) == 1 and errors[0].startswith(f"{path}: ") and message in errors[0], errors
    dark = next(spec for spec in specs if spec.name == "trainwatch-dark")
    assert dark.path.startswith(SHIPPED_THEMES_DIR)


async def test_the_app_starts_with_a_bad_theme_file_and_says_why():
    from ui_helpers import make_app, settle

    open(os.path.join(user_dir("themes"), "bad.yaml"), "w").write(theme_text("bad", primary="notacolour"))
    open(os.path.join(user_dir("themes"), "dark-ish.yaml"), "w").write(theme_text("dark-ish", dark="maybe"))
    app = make_app(PLATEAU_LOG, theme="bad")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        assert app.theme == "trainwatch-dark"
        messages = [notification.message for notification in app._notifications]
        assert any("bad.yaml: primary must be a colour" in message for message in messages), messages
        assert any("dark-ish.yaml: dark must be true or false" in message for message in messages), messages
        assert "bad" not in app.theme_names


# Billion laughs, in every YAML file read ----------------------------------------------------------

def test_an_alias_bomb_in_a_theme_is_refused():
    roles = yaml.safe_load(theme_text("x"))["variables"]
    text = alias_bomb() + theme_text("bomb", variables={**roles, "metric-train": "PLACEHOLDER"})
    path = os.path.join(user_dir("themes"), "bomb.yaml")
    open(path, "w").write(text.replace("metric-train: PLACEHOLDER", "metric-train: *l6"))
    with pytest.raises(ThemeFileError, match=EXPANSION):
        load_theme_file(path)


def test_an_alias_bomb_in_a_preset_is_one_line_from_trainwatch_presets():
    path = os.path.join(user_dir("presets"), "bomb.yaml")
    open(path, "w").write(alias_bomb() + "description: *l6\nchanges: {lr: {scale: 0.5}}\n")
    result = trainwatch("presets", env_home=os.environ["XDG_CONFIG_HOME"])
    assert result.returncode == 0 and "lower-lr" in result.stdout
    assert EXPANSION in one_line(result.stderr) and path in result.stderr


def test_an_alias_bomb_in_the_user_config_is_a_warning(tmp_path):
    os.makedirs(os.path.dirname(user_config_path()), exist_ok=True)
    open(user_config_path(), "w").write(alias_bomb() + "theme: trainwatch-light\ndiagnosis: {plateau: *l6}\n")
    result = trainwatch("check", PLATEAU_LOG, env_home=os.environ["XDG_CONFIG_HOME"])
    assert result.returncode == 1 and EXPANSION in one_line(result.stderr)


def test_an_alias_bomb_in_the_thresholds_config_is_refused(tmp_path):
    config = tmp_path / "thresholds.yaml"
    config.write_text(alias_bomb() + "diagnosis: {plateau: {patience_fraction: 0.3}}\nnotes: *l6\n")
    result = trainwatch("check", PLATEAU_LOG, "--config", str(config))
    assert result.returncode == 2 and EXPANSION in one_line(result.stderr)


def test_an_alias_bomb_or_a_recursive_alias_in_the_commands_own_config_refuses_the_preset(tmp_path):
    """A preset searches the command's config for its key: without the limit that walk visits
    every expanded value (or never ends, for a config that contains itself)."""
    (tmp_path / "bomb.yaml").write_text(alias_bomb() + "lr: 0.1\ndata: *l6\n")
    (tmp_path / "loop.yaml").write_text("model: &model {lr: 0.1, parent: *model}\n")
    for name, reason in (("bomb.yaml", EXPANSION), ("loop.yaml", "recursive alias *model")):
        with pytest.raises(PresetError) as error:
            plan_restart(["python", "train.py", "--config", name], str(tmp_path), get_preset("lower-lr"))
        assert str(error.value).startswith(f"{tmp_path / name}: cannot read the command's config")
        assert reason in str(error.value)


def test_the_reference_trainers_take_only_single_values_from_their_config(tmp_path, capsys):
    """trainers/ cannot import tui's loader: the trainers' own guard takes no list or mapping, so a
    config's aliases have nothing to expand into; unreadable configs are argparse's one line."""
    parser = argparse.ArgumentParser(prog="train")
    parser.add_argument("--config")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--data", default="x")
    levels = ["&l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"] + [
        f"&l{level} [{', '.join([f'*l{level - 1}'] * 9)}]" for level in range(1, 9)]
    bomb = f"data: [{', '.join(levels)}, *l8]\n"  # the anchors inside the one flag's value: 9^9 laughs
    cases = {"bomb.yaml": (bomb, "data: a flag takes a single value"),
             "latin1.yaml": (NOT_UTF8, "not UTF-8 text"), "broken.yaml": ("lr: [1\n", "not valid YAML"),
             "missing.yaml": (None, "no such file or directory")}
    for name, (content, message) in cases.items():
        if isinstance(content, bytes):
            (tmp_path / name).write_bytes(content)
        elif content is not None:
            (tmp_path / name).write_text(content)
        with pytest.raises(SystemExit) as exit_:
            parse_flags(parser, ["--config", str(tmp_path / name)])
        assert exit_.value.code == 2
        error_line = capsys.readouterr().err.strip().splitlines()[-1]
        assert error_line.startswith(f"train: error: {tmp_path / name}: {message}"), error_line
    (tmp_path / "good.yaml").write_text("lr: 0.01\n")
    assert parse_flags(parser, ["--config", str(tmp_path / "good.yaml")]).lr == 0.01


# Diagnosis thresholds: ranges --------------------------------------------------------------------

def test_every_threshold_has_a_range_that_admits_its_default():
    assert ALLOWED.keys() == DEFAULTS.keys()
    for rule, values in DEFAULTS.items():
        assert ALLOWED[rule].keys() == values.keys(), rule
        assert all(ALLOWED[rule][key].admits(float(value)) for key, value in values.items()), rule


@pytest.mark.parametrize("setting, allowed", [
    # accepted, these make a rule divide by zero or take int(inf), loop for ever (max_samples) or fire on every run
    ("common: {smoothing_long: 1}", "common.smoothing_long must be a number at least 0 and below 1, got 1"),
    ("lr_oscillation: {jump_ratio: 0}", "lr_oscillation.jump_ratio must be a number above 1 and at most 1e+06, got 0"),
    ("plateau: {patience_fraction: .inf}", "plateau.patience_fraction must be a number at least 0 and at most 1, "
     "got inf"),
    ("plateau: {min_patience: .nan}", "plateau.min_patience must be a whole number at least 1 and at most 1e+09, "
     "got nan"),
    ("small_val_set: {max_samples: 1000000000000}", "small_val_set.max_samples must be a whole number at least 2 and "
     "at most 100000, got 1000000000000"),
    ("lr_wasted: {cut_ratio: 1}", "lr_wasted.cut_ratio must be a number above 0 and below 1, got 1"),
    ("blank_collapse: {short_fraction: 0}", "blank_collapse.short_fraction must be a number above 0 and at most 1, "
     "got 0"),
    ("overfitting: {min_rise: -0.5}", "overfitting.min_rise must be a number above 0 and at most 1e+06, got -0.5"),
    ("resume_collapse: {first_evals: 2.5}", "resume_collapse.first_evals must be a whole number at least 1 and at "
     "most 1e+09, got 2.5"),
    ("unstable_val: {min_evals: 1}", "unstable_val.min_evals must be a whole number at least 3 and at most 1e+09, "
     "got 1"),
])
def test_a_threshold_out_of_its_range_is_refused_naming_the_key_and_range(tmp_path, setting, allowed):
    config = tmp_path / "thresholds.yaml"
    config.write_text(f"diagnosis:\n  {setting}\n")
    result = trainwatch("check", PLATEAU_LOG, "--config", str(config))
    assert result.returncode == 2
    assert one_line(result.stderr) == f"trainwatch: {config}: {allowed}"


def test_thresholds_in_range_are_used(tmp_path):
    config = tmp_path / "thresholds.yaml"
    config.write_text("diagnosis:\n  common: {smoothing_long: 0.99}\n  lr_oscillation: {jump_ratio: 1.5}\n")
    thresholds = load_thresholds(str(config))
    assert thresholds["common"]["smoothing_long"] == 0.99 and thresholds["lr_oscillation"]["jump_ratio"] == 1.5
    with pytest.raises(ConfigError, match="plateau.min_evals must be a whole number .*, got .eight."):
        config.write_text("diagnosis: {plateau: {min_evals: eight}}\n")
        load_thresholds(str(config))


# Remembering a theme whose name needs quoting ---------------------------------------------------

@pytest.mark.parametrize("name", ["a: b", "#x", "'", "two\nlines", "back\\1slash", "x" * 120, "é ü", "null", "- dash"])
def test_remembering_any_theme_name_keeps_the_config_readable(name):
    os.makedirs(os.path.dirname(user_config_path()), exist_ok=True)
    open(user_config_path(), "w").write("# my thresholds\ntheme: trainwatch-light\ndiagnosis:\n"
                                        "  plateau: {patience_fraction: 0.3}\n")
    remember_theme(name)
    assert remembered_theme() == name
    assert load_thresholds()["plateau"]["patience_fraction"] == 0.3
    remember_theme("trainwatch-dark")  # and the next edit still finds its line
    text = open(user_config_path()).read()
    assert remembered_theme() == "trainwatch-dark" and "# my thresholds" in text
    result = trainwatch("check", PLATEAU_LOG, env_home=os.environ["XDG_CONFIG_HOME"])
    assert result.returncode == 1 and result.stderr == ""


def test_a_corrupt_config_is_not_overwritten_and_check_warns_once():
    os.makedirs(os.path.dirname(user_config_path()), exist_ok=True)
    broken = "theme: [unclosed\ndiagnosis: {plateau: {patience_fraction: 0.3}}\n"
    open(user_config_path(), "w").write(broken)
    with pytest.raises(UserConfigError, match="not valid YAML"):
        remember_theme("trainwatch-light")
    assert open(user_config_path()).read() == broken  # the user's file is theirs to fix
    result = trainwatch("check", PLATEAU_LOG, env_home=os.environ["XDG_CONFIG_HOME"])
    assert result.returncode == 1
    assert "not valid YAML" in one_line(result.stderr) and "using the default diagnosis thresholds" in result.stderr


async def test_switching_to_a_theme_whose_name_needs_quoting_keeps_later_commands_working():
    from ui_helpers import make_app, settle

    for file_name, name in (("colon.yaml", "lab: night"), ("hash.yaml", "#x"), ("newline.yaml", "two\nlines")):
        open(os.path.join(user_dir("themes"), file_name), "w").write(theme_text(name))
    app = make_app(PLATEAU_LOG, remember=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        for name in ("lab: night", "#x", "two\nlines"):
            app.theme = name  # what the command palette's theme picker does
            await pilot.pause()
            assert remembered_theme() == name
    result = trainwatch("check", PLATEAU_LOG, env_home=os.environ["XDG_CONFIG_HOME"])
    assert result.returncode == 1 and result.stderr == ""


# Fuzzing: whatever the bytes, each loader returns or raises its one-line error --------------------

KEYS = [*THEME_FIELDS, "name", "variables", *ROLE_VARIABLES, "changes", "description", "resume", "set", "scale",
        "at_least", "integer", "optional", "lr", "dropout", "diagnosis", "theme",
        *DEFAULTS, *{key for values in DEFAULTS.values() for key in values}]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=-10 ** 400, max_value=10 ** 400),
                    st.floats(), st.sampled_from(["#5aa9e6", "red", "notacolour", "bold", "last", "best", "", "[/]"]),
                    st.text(max_size=20))
DOCUMENTS = st.recursive(SCALARS, lambda children: st.lists(children, max_size=5) | st.dictionaries(
    st.sampled_from(KEYS) | st.text(max_size=8), children, max_size=6), max_leaves=25)


def _dumped(document) -> bytes:
    return yaml.safe_dump(document, allow_unicode=True).encode("utf-8")


def _with_aliases(document, other) -> bytes:
    """A document whose value is an anchored one, referred to again (and again) by alias."""
    return (b"base: &base " + yaml.safe_dump(other, default_flow_style=True, width=1 << 20).strip().encode()
            + b"\n" + _dumped({"doc": document}) + b"again: *base\nmore: [*base, *base]\n")


YAML_BYTES = st.one_of(
    st.binary(max_size=400),
    st.text(alphabet=st.sampled_from(list("ab1:-&*[]{},#!'\"|>?%@` \n\t.x")), max_size=300).map(str.encode),
    DOCUMENTS.map(_dumped),
    st.builds(_with_aliases, DOCUMENTS, DOCUMENTS),
    # a mutated real file: one byte flipped, cut anywhere
    st.tuples(st.sampled_from(sorted(os.listdir(SHIPPED_THEMES_DIR))), st.integers(0, 2000), st.integers(0, 255),
              st.integers(0, 2000)).map(lambda case: _mutated(os.path.join(SHIPPED_THEMES_DIR, case[0]), *case[1:])),
)
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 250)), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _mutated(path: str, position: int, byte: int, cut: int) -> bytes:
    data = bytearray(open(path, "rb").read())
    data[position % len(data)] = byte
    return bytes(data[: max(cut, 1) + len(data) // 2])


@FUZZ
@given(data=YAML_BYTES)
def test_fuzz_theme_files_load_or_refuse_in_one_line(data):
    path = os.path.join(user_dir("themes"), "fuzzed.yaml")
    open(path, "wb").write(data)
    try:
        theme = textual_theme(load_theme_file(path))
    except ThemeFileError as error:
        assert "\n" not in str(error) and str(error).startswith(path)
        return
    theme.to_color_system().generate()  # a theme let through can be drawn


@FUZZ
@given(data=YAML_BYTES)
def test_fuzz_preset_files_and_commands_configs_load_or_refuse_in_one_line(data, tmp_path):
    path = os.path.join(user_dir("presets"), "fuzzed.yaml")
    open(path, "wb").write(data)
    presets, problems = load_presets()
    assert "lower-lr" in presets and all("\n" not in problem for problem in problems)
    (tmp_path / "train.yaml").write_bytes(data)
    try:
        plan = plan_restart(["python", "train.py", "--config", "train.yaml", "--lr", "0.1"], str(tmp_path),
                            presets["regularize"])
    except PresetError as error:
        assert "\n" not in str(error)
        return
    for text in plan.files.values():
        yaml.safe_load(text)  # what the new run is given reads back


@FUZZ
@given(data=YAML_BYTES)
def test_fuzz_user_config_never_stops_a_command(data, capsys):
    os.makedirs(os.path.dirname(user_config_path()), exist_ok=True)
    open(user_config_path(), "wb").write(data)
    assert set(load_thresholds()) == set(DEFAULTS)
    assert len(capsys.readouterr().err.splitlines()) <= 1
    assert remembered_theme() is None or isinstance(remembered_theme(), str)
    try:
        remember_theme("lab: night #1")
    except UserConfigError as error:
        assert "\n" not in str(error) and open(user_config_path(), "rb").read() == data  # left as it was
        return
    assert remembered_theme() == "lab: night #1"


@FUZZ
@given(data=YAML_BYTES)
def test_fuzz_thresholds_config_loads_or_refuses_in_one_line(data, tmp_path):
    (tmp_path / "thresholds.yaml").write_bytes(data)
    try:
        load_thresholds(str(tmp_path / "thresholds.yaml"))
    except ConfigError as error:
        assert "\n" not in str(error)



@st.composite
def thresholds_in_range(draw) -> dict:
    """Any thresholds a config may set: each value drawn from its allowed range, bounds included."""
    thresholds = {rule: dict(values) for rule, values in DEFAULTS.items()}
    for rule, values in ALLOWED.items():
        for key, allowed in values.items():
            if not draw(st.booleans()):
                continue
            high = min(allowed.high, 1e3)  # the top of a count is as good as 1e3 for a short log
            value = draw(st.integers(int(allowed.low), int(high)) if allowed.whole else
                         st.floats(allowed.low, high, exclude_min=allowed.low_open, exclude_max=allowed.high_open))
            thresholds[rule][key] = value
    return thresholds


SEED_MODELS = [diagnose_target(seed_path(case))[0] for case in
               ("seed000_tcn_plateau", "seed001_msa_overfit", "seed003_ctc_blank", "seed004_resume_collapse")]


@settings(max_examples=200, deadline=None)
@given(thresholds=thresholds_in_range(), model=st.sampled_from(SEED_MODELS))
def test_fuzz_every_threshold_in_its_range_keeps_every_rule_working(thresholds, model):
    """The ranges are the contract: no value they let through makes a rule raise on a real log."""
    DiagnosisEngine(thresholds).update(model)


HUGE_HEX = "0x" + "f" * 4000  # an int past the 4,300 digits Python will print: only hex can spell it in YAML


@pytest.mark.parametrize("kind, text", [
    ("theme", theme_text("huge") + f"? {HUGE_HEX}\n: 1\n"),  # a key this long must be explicit (`?`)
    ("preset", f"changes:\n  lr:\n    scale: 0.5\n    ? {HUGE_HEX}\n    : 1\n"),
    ("thresholds", f"diagnosis:\n  plateau:\n    ? {HUGE_HEX}\n    : 1\n"),
    ("thresholds", f"diagnosis:\n  ? {HUGE_HEX}\n  : {{a: 1}}\n"),
    ("thresholds", f"diagnosis: {{plateau: {{min_evals: {HUGE_HEX}}}}}\n"),
], ids=["theme key", "preset setting", "threshold key", "rule key", "threshold value"])
def test_a_number_too_long_to_print_is_named_without_printing_it(tmp_path, kind, text):
    path = tmp_path / "file.yaml"
    path.write_text(text)
    load, error_type = {"theme": (load_theme_file, ThemeFileError), "thresholds": (load_thresholds, ConfigError),
                        "preset": (lambda where: load_presets_from(where), PresetError)}[kind]
    with pytest.raises(error_type, match="a number too long to print"):
        load(str(path))


def load_presets_from(path: str):
    from tui.runs.presets import parse_preset

    return parse_preset("huge", read_yaml_file(path), path)
