"""Registry behaviour: decorator, lazy built-ins, duplicates, unknown names, plugin files."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from mebench.errors import ConfigError, DuplicateNameError, UnknownNameError
from mebench.registry import CLASSIFIERS, EXTRACTORS, REGISTRIES, Registry, load_plugin_file


def test_builtins_are_listed_lazily_with_descriptions():
    for kind, name in [("datasets", "synthetic"), ("extractors", "hoof"), ("classifiers", "logreg"),
                       ("protocols", "loso"), ("metrics", "uar")]:
        registry = REGISTRIES[kind]
        assert name in registry.names()
        assert registry.entries[name].description


def test_decorator_registers_and_duplicate_names_both_origins():
    reg = Registry("classifiers")

    @reg.register("thing")
    class A:
        """An A."""

    assert reg.entries["thing"].obj is A and reg.entries["thing"].description == "An A."
    with pytest.raises(DuplicateNameError) as err:
        @reg.register("thing")
        class B:
            pass
    text = str(err.value)
    assert "A" in text and "B" in text and "registered twice" in text


def test_unknown_name_suggests_close_matches():
    with pytest.raises(UnknownNameError) as err:
        CLASSIFIERS.entry("svm-lineer")
    assert "did you mean 'svm-linear'" in str(err.value).lower()
    assert err.value.exit_code == 2


def test_unknown_option_names_the_key():
    with pytest.raises(ConfigError) as err:
        CLASSIFIERS.create("logreg", Cee=1.0)
    assert "'Cee'" in str(err.value) and "C" in str(err.value)


def test_cli_unknown_plugin_exit_code_2_without_traceback(cli):
    result = cli("run", "--classifier", "logregg", "--dataset-opt", "subjects=2")
    assert result.exit_code == 2
    assert "did you mean 'logreg'" in result.output.lower()
    assert "Traceback" not in result.output


def test_help_and_list_do_not_import_torch_or_mediapipe():
    code = textwrap.dedent("""
        import sys
        from click.testing import CliRunner
        from mebench.cli import main
        r = CliRunner()
        assert r.invoke(main, ["--help"]).exit_code == 0
        out = r.invoke(main, ["list"])
        assert out.exit_code == 0, out.output
        heavy = [m for m in ("torch", "mediapipe", "torchvision", "cv2", "sklearn") if m in sys.modules]
        print(",".join(heavy))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"heavy modules imported: {out.stdout}"


def test_plugin_file_registers_and_runs(tmp_path, cli):
    plugin = tmp_path / "my_plugins.py"
    plugin.write_text(textwrap.dedent('''
        import numpy as np
        from mebench.registry import EXTRACTORS
        from mebench.features import FeatureExtractor
        from mebench.io import open_clip

        @EXTRACTORS.register("test-apex-mean")
        class ApexMean(FeatureExtractor):
            """Mean grey level of the onset and apex frames."""
            requires = ("frames", "apex")

            def extract_one(self, row):
                clip = open_clip(row.frames)
                return np.array([clip.read(int(row.onset), grey=True).mean(), clip.read(int(row.apex), grey=True).mean()])
    '''))
    out = tmp_path / "run"
    result = cli("run", "--plugins", plugin, "--features", "test-apex-mean", "--dataset-opt", "subjects=3",
                 "--dataset-opt", "clips_per_subject=4", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    assert (out / "predictions.parquet").is_file()
    assert "test-apex-mean" in EXTRACTORS.names()


def test_plugin_file_errors_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_plugin_file(tmp_path / "missing.py")
    broken = tmp_path / "broken.py"
    broken.write_text("import nonexistent_module_xyz\n")
    with pytest.raises(ConfigError, match="broken.py failed to import"):
        load_plugin_file(broken)


def test_plugin_duplicate_of_builtin_is_refused(tmp_path):
    dup = tmp_path / "dup.py"
    dup.write_text("from mebench.registry import CLASSIFIERS\n\n@CLASSIFIERS.register('logreg')\ndef mine():\n    pass\n")
    with pytest.raises(DuplicateNameError) as err:
        load_plugin_file(dup)
    assert "LogReg" in str(err.value) and "mine" in str(err.value)
