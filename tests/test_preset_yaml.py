"""A preset rewriting the command's own YAML config: comments, anchors and spellings kept, 1e-4 a number."""
from __future__ import annotations

import json
import os
import re
import textwrap

import pytest
import yaml as pyyaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from run_helpers import PYTHON, wait_for
from tui.runs.presets import PresetError, get_preset, parse_preset, plan_restart
from tui.runs.restart import propose_restart, restart_run
from tui.runs.run_control import RunHandle
from tui.runs.launcher import launch_run
from tui.settings.yaml_documents import EditableYaml, YamlDocumentError, parse_yaml

CONFIG = textwrap.dedent("""\
    # Training config for the speech model.
    defaults: &defaults       # shared by both optimizers
        weight_decay: 1e-4    # L2 on the weights (PyYAML reads this as a string)
        betas: [0.9, 0.999]
    model:
        hidden_size: 0x100    # hex stays hex
        dropout: 0.1
        layers:
          - conv
          - gru
    optim:
        <<: *defaults
        lr: 3.0E-4            # upper-case exponent, kept
        steps: 1_000
    ema: *defaults
    name: 'quoted'
""")

TRAINER = textwrap.dedent("""\
    # A trainer that reads its config as the reference trainers do (flags, then the YAML config).
    import argparse, json, os, sys
    from trainers.flag_config import parse_flags
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--weight_decay", type=float, default=0.0)
    args = parse_flags(parser)
    with open(os.path.join(os.environ.get("TRAINWATCH_RUN_DIR", "."), "seen.json"), "w") as out:
        json.dump({"dropout": args.dropout, "weight_decay": args.weight_decay}, out)
""")


def test_a_commented_config_with_an_anchor_and_1e_4_goes_through_regularize(tmp_path):
    (tmp_path / "train.yaml").write_text(CONFIG)
    plan = plan_restart(["python", "train.py", "--config", "train.yaml"], str(tmp_path), get_preset("regularize"))
    assert plan.command == ["python", "train.py", "--config", "{run_dir}/train.yaml"]
    # found once where it is written (not again through the merge and the alias), multiplied by 10
    assert plan.changes == ["train.yaml: dropout: 0.1 -> 0.5", "train.yaml: weight_decay: 0.0001 -> 0.001",
                            "resume from: none (fresh start)"]
    written = plan.files["train.yaml"]
    expected = (CONFIG.replace("dropout: 0.1", "dropout: 0.5")
                .replace("weight_decay: 1e-4 ", "weight_decay: 0.001 "))
    assert written == expected  # every other character as it was: comments, anchors, merges, spellings
    document = parse_yaml(written)
    assert document["defaults"]["weight_decay"] == 0.001 and document["optim"]["weight_decay"] == 0.001
    assert document["ema"] == document["defaults"] and document["model"]["hidden_size"] == 256
    assert document["optim"]["lr"] == 3e-4 and document["optim"]["steps"] == 1000
    assert pyyaml.safe_load(written)["optim"]["weight_decay"] == 0.001  # a PyYAML trainer reads a number too


def test_1e_4_is_a_number_and_a_new_value_is_one_for_yaml_1_1_readers_too(tmp_path):
    (tmp_path / "train.yaml").write_text("weight_decay: 1e-4\ndropout: 0\n")
    gentler = parse_preset("gentler", {"changes": {"weight_decay": {"scale": 0.1}, "dropout": {"set": 0.05}}})
    plan = plan_restart(["python", "train.py", "--config=train.yaml"], str(tmp_path), gentler)
    assert plan.command[-1] == "--config={run_dir}/train.yaml"
    written = plan.files["train.yaml"]
    assert written == "weight_decay: 1.0e-05\ndropout: 0.05\n"  # not 1e-05, which PyYAML takes for text
    assert pyyaml.safe_load(written) == {"weight_decay": 1e-5, "dropout": 0.05}


def test_what_is_not_a_number_still_refuses_the_preset(tmp_path):
    for text in ("weight_decay: &off true\ndropout: 0.1\n", "weight_decay: small\ndropout: 0.1\n",
                 "weight_decay: !custom 1e-4\ndropout: 0.1\n"):
        (tmp_path / "train.yaml").write_text(text)
        with pytest.raises(PresetError, match="weight_decay needs a number"):
            plan_restart(["python", "train.py", "--config", "train.yaml"], str(tmp_path), get_preset("regularize"))


def test_every_unchanged_number_keeps_its_spelling_to_the_character(tmp_path):
    # ruamel's own writer would print 1_000.5 as 01000.5, drop a digit of 5.960464477539063e-08,
    # and write -0x1f as !!int '0x-1f'; only the preset's values are rewritten here.
    text = ("lr: 5.960464477539063e-08\nsteps: 1_000.5\noffset: -0x1f\nflag: TRUE\nnothing: Null\n"
            "plus: +5\ninf: .Inf\nwd: {weight_decay: 2E-4, other: 0o17}  # flow\ndropout: 0.1\n")
    (tmp_path / "train.yaml").write_text(text)
    plan = plan_restart(["python", "train.py", "--config", "train.yaml"], str(tmp_path), get_preset("regularize"))
    assert plan.files["train.yaml"] == text.replace("2E-4", "0.002").replace("0.1", "0.5")


def test_a_value_without_characters_of_its_own_falls_back_to_ruamels_writer(tmp_path):
    text = "# mine\nmodel:\n    dropout:\n    weight_decay: 0.0  # L2\n"
    (tmp_path / "train.yaml").write_text(text)
    plan = plan_restart(["python", "train.py", "--config", "train.yaml"], str(tmp_path), get_preset("regularize"))
    written = plan.files["train.yaml"]
    assert written == "# mine\nmodel:\n    dropout: 0.5\n    weight_decay: 0.0001 # L2\n"
    assert parse_yaml(written) == {"model": {"dropout": 0.5, "weight_decay": 1e-4}}


def test_indentation_of_the_config_is_kept(tmp_path):
    text = "model:\n  dropout: 0.1\n  layers:\n  - conv\n  - gru\nweight_decay: 0.0\n"
    (tmp_path / "train.yaml").write_text(text)
    plan = plan_restart(["python", "train.py", "--config", "train.yaml"], str(tmp_path), get_preset("regularize"))
    assert plan.files["train.yaml"] == text.replace("0.1", "0.5").replace("0.0\n", "0.0001\n")


def test_the_round_trip_loader_is_as_bounded_as_the_plain_one():
    levels = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"] + [
        f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 10)}]" for level in range(1, 9)]
    for text, reason in (("\n".join(levels) + "\n", "expands to more than"),
                         ("a: &a [1, *a]\n", "recursive alias *a"),
                         ("[" * 400 + "]" * 400, "nested more than 100 levels"),
                         ("a: !!python/object/apply:os.system [echo hi]\n", None)):
        if reason is None:
            assert EditableYaml(text).data["a"] == ["echo hi"]  # an unknown tag is inert data
            with pytest.raises(YamlDocumentError, match="could not determine a constructor"):
                parse_yaml(text)
            continue
        for load in (parse_yaml, EditableYaml):
            with pytest.raises(YamlDocumentError, match=re.escape(reason)):
                load(text)


NAMES = st.sampled_from(["dropout", "weight_decay", "wd", "lr", "hidden", "name", "steps"])
VALUES = st.one_of(st.floats(0, 1, allow_nan=False), st.integers(0, 10 ** 6), st.sampled_from(
    ["1e-4", "1.0e-3", "0x10", "1_000", "3.0E-4", ".5", "'text'", "null", "true", "~"]))


@st.composite
def commented_configs(draw) -> str:
    """A nested config of plain values, with comments, and sometimes an anchored block merged in."""
    lines = ["# a config"]
    for section in range(draw(st.integers(1, 3))):
        lines.append(f"s{section}:{' &base' if section == 0 else ''}  # section {section}")
        if section and draw(st.booleans()):
            lines.append("    <<: *base")
        for key in draw(st.lists(NAMES, min_size=1, max_size=4, unique=True)):
            value = draw(VALUES)
            lines.append(f"    {key}: {value}" + (f"  # {key}" if draw(st.booleans()) else ""))
    return "\n".join(lines) + "\n"


@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 250)), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=commented_configs())
def test_fuzz_a_rewritten_config_keeps_its_comments_and_changes_only_the_presets_keys(text, tmp_path):
    (tmp_path / "train.yaml").write_text(text)
    try:
        plan = plan_restart(["python", "train.py", "--config", "train.yaml"], str(tmp_path), get_preset("regularize"))
    except PresetError as error:
        assert "\n" not in str(error)
        return
    before, written = parse_yaml(text), plan.files.get("train.yaml", text)
    after = parse_yaml(written)
    comments = [line.partition("#")[2] for line in text.splitlines() if "#" in line]
    assert comments == [line.partition("#")[2] for line in written.splitlines() if "#" in line]
    for section, values in before.items():
        for key, value in values.items():
            if key in ("dropout", "weight_decay", "wd"):
                assert after[section][key] == (0.5 if key == "dropout" else max((value or 0) * 10, 1e-4))
            else:
                assert after[section][key] == value or (value != value and after[section][key] != after[section][key])
    pyyaml.safe_load(written)  # what the new run is given reads back with PyYAML too


def test_a_real_restart_hands_the_child_the_rewritten_config(tmp_path):
    """launch -> propose_restart -> restart_run: the child's run directory holds the config as the
    preset left it, and the child (reading it as the reference trainers do) gets the new values."""
    (tmp_path / "train.py").write_text(TRAINER)
    (tmp_path / "train.yaml").write_text("# mine\nweight_decay: 1e-4  # L2\ndropout: 0.1\n")
    env = {"PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    parent = launch_run([PYTHON, "train.py", "--config", "train.yaml"], root=str(tmp_path / "runs"),
                        cwd=str(tmp_path), env=env, name="wd")
    wait_for(lambda: RunHandle(parent.run_dir).refresh().exit_code is not None, 60, "the parent to finish",
             parent.run_dir)
    proposal = propose_restart(parent.run_dir, "regularize", resume="none")
    assert "train.yaml: weight_decay: 0.0001 -> 0.001" in proposal.plan.changes
    child = restart_run(proposal)
    wait_for(lambda: RunHandle(child.run_dir).refresh().exit_code is not None, 60, "the child to finish",
             child.run_dir)
    assert open(os.path.join(child.run_dir, "train.yaml")).read() == "# mine\nweight_decay: 0.001  # L2\ndropout: 0.5\n"
    seen = json.load(open(os.path.join(child.run_dir, "seen.json")))
    assert seen == {"dropout": 0.5, "weight_decay": 0.001}
    assert json.load(open(os.path.join(parent.run_dir, "seen.json")))["weight_decay"] == 1e-4
