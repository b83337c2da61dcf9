"""The console script's quick exit: atexit handlers run, output is complete, exit statuses are kept."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from _cli import run_cli


def test_a_run_ends_after_its_atexit_handlers_with_its_output_whole(tmp_path):
    marker, teardown = tmp_path / "atexit-ran", tmp_path / "teardown-ran"
    plugin = tmp_path / "plugin.py"
    plugin.write_text(textwrap.dedent(f"""
        import atexit
        from pathlib import Path

        atexit.register(lambda: Path({str(marker)!r}).write_text("ran"))


        class Teardown:  # finalised when the interpreter tears the module down, which the quick exit skips
            def __del__(self):
                Path({str(teardown)!r}).write_text("ran")


        KEPT = Teardown()
    """))
    proc = run_cli("run", "--plugins", plugin, "--dataset-opt", "subjects=3", "--dataset-opt", "clips_per_subject=4",
                   "--out", tmp_path / "run", "--json", process=True, cwd=tmp_path)  # the console script's exit
    assert proc.exit_code == 0, proc.stderr
    assert marker.read_text() == "ran" and not teardown.exists()  # atexit ran, the module teardown did not
    summary = json.loads(proc.stdout)  # the whole JSON document reached the pipe
    assert summary["run_id"] and (tmp_path / "run" / "manifest.json").is_file()


def test_a_user_error_keeps_its_exit_status_and_message(tmp_path):
    proc = run_cli("run", "--dataset", "no-such-dataset", process=True, cwd=tmp_path)
    assert proc.exit_code == 2 and "Traceback" not in proc.stderr  # a ConfigError's status
    assert "error:" in proc.stderr and "no-such-dataset" in proc.stderr


def test_a_live_thread_gets_the_normal_exit_and_messages_give_status_1(tmp_path):
    done = tmp_path / "thread-done"
    code = textwrap.dedent(f"""
        import threading, time
        from pathlib import Path
        from mebench.cli import _quick_exit

        def late():
            time.sleep(0.3)
            Path({str(done)!r}).write_text("done")

        threading.Thread(target=late).start()
        _quick_exit(3)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 3 and done.read_text() == "done"
    proc = subprocess.run([sys.executable, "-c", "from mebench.cli import _quick_exit; _quick_exit('stopped: why')"],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "stopped: why" in proc.stderr


def test_output_that_cannot_be_written_is_never_a_success():
    """A full disk makes the final flush fail: status 120 and a message, as Python itself gives."""
    code = textwrap.dedent("""
        import errno, sys
        from mebench.cli import _quick_exit

        class FullDisk:
            def write(self, text):
                return len(text)

            def flush(self):
                raise OSError(errno.ENOSPC, "No space left on device")

        sys.stdout = FullDisk()
        _quick_exit(0)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 120 and "could not write the output" in proc.stderr
