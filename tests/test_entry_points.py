"""A plugin distribution with real entry-point metadata shows up in `mebench list` and runs."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def _make_distribution(site):
    pkg = site / "mebench_demo_plugin"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent('''
        """A demo third-party mebench plugin."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler


        def make_demo_classifier(C: float = 1.0, random_state: int = 0):
            """Demo: scaled logistic regression from a third-party package."""
            return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000, random_state=random_state))
    '''))
    dist = site / "mebench_demo_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mebench-demo-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[mebench.classifiers]\ndemo-logreg = mebench_demo_plugin:make_demo_classifier\n")
    (dist / "RECORD").write_text("")


def test_entry_point_plugin_is_listed_and_runs(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    _make_distribution(site)
    env_code = textwrap.dedent(f"""
        import sys, json
        sys.path.insert(0, {str(site)!r})
        from click.testing import CliRunner
        from mebench.cli import main
        r = CliRunner()
        listed = r.invoke(main, ["list", "classifiers"])
        ran = r.invoke(main, ["run", "--classifier", "demo-logreg", "--dataset-opt", "subjects=3",
                              "--dataset-opt", "clips_per_subject=4", "--out", {str(tmp_path / 'run')!r}, "--json"])
        print(json.dumps({{"listed": listed.output, "code": ran.exit_code, "out": ran.output}}))
    """)
    proc = subprocess.run([sys.executable, "-c", env_code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "demo-logreg" in payload["listed"]
    assert payload["code"] == 0, payload["out"]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["config"]["classifier"] == "demo-logreg"
