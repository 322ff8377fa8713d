"""The header's GPU text: nvidia-smi's answers parsed, the run's own GPUs picked by its process
group, and the app showing it while a run is live.

These machines have no GPU, so the script's nvidia-smi is a stand-in on PATH that prints what the
real one prints for the same queries (CSV, no header, no units; "[N/A]" where a GPU does not
report a value). Everything else is real: the script runs in sh, `ps` finds the process group of
a real process, and over ssh the test sshd's machine really has no nvidia-smi.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tui.runs.gpu_usage import GPU_SCRIPT, NoGpu, describe_gpus, parse_gpu_report, read_gpus, run_here
from tui.follow.remote_follower import RemoteFollower
from tui.ssh.remote_target import RemoteTarget
from tui.app.widgets.run_header import RunHeader
from ui_helpers import make_app, wait_for

TWO_GPUS = "GPU-aaaa, 87, 12390, 81559\nGPU-bbbb, 3, 1024, 81559\n"


def fake_nvidia_smi(directory, gpus: str, apps: str = "", fail: bool = False) -> str:
    """A stand-in nvidia-smi in ``directory``: answers --query-gpu and --query-compute-apps."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "nvidia-smi")
    with open(path, "w") as script:
        script.write("#!/bin/sh\n")
        if fail:
            script.write("echo 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.'\n"
                         "exit 9\n")
        script.write(f'case "$1" in\n  --query-gpu=*) printf %s "{gpus}" ;;\n'
                     f'  --query-compute-apps=*) printf %s "{apps}" ;;\nesac\n')
    os.chmod(path, 0o755)
    return str(directory)


@pytest.fixture
def path_with(monkeypatch):
    def put_first(directory: str) -> None:
        monkeypatch.setenv("PATH", directory + os.pathsep + os.environ["PATH"])
    return put_first


def test_one_gpu_several_and_values_a_gpu_does_not_report():
    report = "@TW gpus\nGPU-aaaa, 87, 12390, 81559\n@TW apps\n"
    assert describe_gpus(parse_gpu_report(report)) == "GPU 87% · 12.1/79.6 GiB"
    report = "@TW gpus\n" + TWO_GPUS + "GPU-cccc, [N/A], [N/A], [N/A]\n@TW apps\n"
    assert describe_gpus(parse_gpu_report(report)) == "3 GPUs 45% · 13.1/159.3 GiB"
    # A chatty login shell's lines are not GPUs.
    assert parse_gpu_report("Welcome!\n@TW gpus\n@TW apps\n") == []
    with pytest.raises(NoGpu):
        parse_gpu_report("motd\n@TW nogpu\n")


def test_the_run_s_own_gpu_is_found_by_its_process_group(tmp_path, path_with):
    # A real process leading its own group, as a launched trainer does, computing on GPU-bbbb.
    trainer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        path_with(fake_nvidia_smi(tmp_path / "bin", TWO_GPUS, f"{trainer.pid}, GPU-bbbb\n99999999, GPU-aaaa\n"))
        assert read_gpus(run_here, run_group=trainer.pid) == "GPU 3% · 1.0/79.6 GiB"
        # Not a run of ours, or its processes not on any GPU: the whole machine.
        assert read_gpus(run_here) == "2 GPUs 45% · 13.1/159.3 GiB"
        other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
        try:  # another run, neither the GPU processes' group nor their ancestor
            assert read_gpus(run_here, run_group=other.pid) == "2 GPUs 45% · 13.1/159.3 GiB"
        finally:
            other.kill()
            other.wait()
    finally:
        trainer.kill()
        trainer.wait()


def test_no_nvidia_smi_and_a_failing_one(tmp_path, path_with, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    if subprocess.run(["sh", "-c", "command -v nvidia-smi"], capture_output=True).returncode == 0:
        pytest.skip("this machine has a real nvidia-smi")
    with pytest.raises(NoGpu):
        read_gpus(run_here)
    path_with(fake_nvidia_smi(tmp_path / "bin", TWO_GPUS, fail=True))
    assert read_gpus(run_here) == ""  # no driver right now: nothing shown, asked again later


def test_the_gpu_script_over_ssh_on_a_machine_without_gpus(over_ssh, tmp_path):
    (tmp_path / "train.log").write_text("epoch,loss\n0,1.0\n")
    follower = RemoteFollower(RemoteTarget("twtest", str(tmp_path / "train.log")))
    try:
        follower.resolve()
        with pytest.raises(NoGpu):
            parse_gpu_report(follower.run_on_host(GPU_SCRIPT))
    finally:
        follower.stop()
        follower.connection.close()


async def test_the_header_shows_the_gpus_while_the_run_is_live(tmp_path, path_with):
    path_with(fake_nvidia_smi(tmp_path / "bin", TWO_GPUS))
    (tmp_path / "r1").mkdir()
    log = tmp_path / "r1" / "log.csv"  # a short name, so the header's first line fits 100 columns
    log.write_text("epoch,loss\n0,1.0\n1,0.8\n")
    app = make_app(str(log), clock=time.time)
    async with app.run_test(size=(100, 30)) as pilot:
        header = app.query_one(RunHeader)
        await wait_for(pilot, lambda: "gpu-box  2 GPUs 45% · 13.1/159.3 GiB" in header.render().plain, timeout=10)


async def test_a_finished_log_shows_no_gpu(tmp_path, path_with):
    path_with(fake_nvidia_smi(tmp_path / "bin", TWO_GPUS))
    log = tmp_path / "training_log.csv"
    log.write_text("epoch,loss\n0,1.0\n1,0.8\n")
    old = time.time() - 3600
    os.utime(log, (old, old))  # last written an hour ago: not running, so its GPUs are not news
    app = make_app(str(log), clock=time.time)
    async with app.run_test(size=(100, 30)) as pilot:
        header = app.query_one(RunHeader)
        await wait_for(pilot, lambda: "idle" in header.render().plain, timeout=10)
        await pilot.pause(1.5)  # past the first look at the GPUs
        assert "GPU" not in header.render().plain and app.gpu_text == ""


def test_a_torchrun_worker_in_its_own_session_counts_for_the_run(tmp_path, path_with):
    """torchrun starts each worker in a session of its own: the worker's GPU is the run's because
    the run's process is the worker's ancestor (real processes, the real script's ps walk)."""
    launcher = subprocess.Popen([sys.executable, "-c", (
        "import subprocess, sys, time\n"
        "worker = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], start_new_session=True)\n"
        "print(worker.pid, flush=True)\n"
        "time.sleep(60)\n")], stdout=subprocess.PIPE, start_new_session=True, text=True)
    try:
        worker = int(launcher.stdout.readline())
        assert os.getpgid(worker) != launcher.pid
        path_with(fake_nvidia_smi(tmp_path / "bin", TWO_GPUS, f"{worker}, GPU-aaaa\n"))
        assert read_gpus(run_here, run_group=launcher.pid) == "GPU 87% · 12.1/79.6 GiB"
        os.kill(worker, 9)
    finally:
        launcher.kill()
        launcher.wait()


async def test_the_runs_screen_shows_each_running_runs_own_gpus(tmp_path, path_with):
    from run_helpers import PYTHON, events
    from run_helpers import wait_for as wait_until
    from tui.app.screens.runs_screen import RunsScreen
    from tui.runs.launcher import launch_run
    from tui.view.run_table import RunTable

    root = str(tmp_path / "runs")
    busy = launch_run([PYTHON, "-c", "import time; print('epoch 1 loss 0.5', flush=True); time.sleep(120)"],
                      root=root, cwd=str(tmp_path), name="busy")
    done = launch_run([PYTHON, "-c", "print('epoch 1 loss 0.4')"], root=root, cwd=str(tmp_path), name="done")
    try:
        wait_until(lambda: events(done.run_dir, "status"), 60, "the short run to end", done.run_dir)
        path_with(fake_nvidia_smi(tmp_path / "bin", TWO_GPUS, f"{busy.pid}, GPU-aaaa\n"))
        rows = {row.name: row for row in RunTable(root).rows(time.time())}
        assert rows["busy-1"].gpu == "GPU 87% · 12.1/79.6 GiB" and rows["done-1"].gpu == "", rows
        app = make_app(None, runs_root=root, clock=time.time)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen)
                           and any(row.gpu for row in app.screen.rows), 20)
            table = app.screen.query_one("#runs-table")
            assert "gpu" in [str(column.label) for column in table.columns.values()]
    finally:
        from tui.runs.run_control import RunHandle
        RunHandle(busy.run_dir).stop()
