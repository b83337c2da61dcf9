"""MEGC 2019 composite (See et al., FG 2019): CASME II + SAMM + SMIC-HS with three classes.

Labels are ``megc3`` (negative / positive / surprise); LOSO runs over all subjects of the three
parts (their subject ids stay namespaced, ``casme2/sub01``, ``samm/006``, ``smic/s1``). The
``dataset`` column keeps the part name, so pooled metrics are reported for the composite and for
each part. Relative to the CASME II 2019 sheet under ``megc3``, the official composite excludes
five clips (listed in :data:`EXCLUDED`); each exclusion is recorded as a skip.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import DataError, MissingArgumentError
from .casme2 import CASME2
from .common import APEX_POLICY_TEXT, LoaderBase, check_choice, check_text
from .samm import SAMM
from .sheets import is_dir
from .smic import SMIC

EXCLUDED = ("casme2/sub04/EP12_01f", "casme2/sub05/EP09_05f", "casme2/sub24/EP07_01",
            "casme2/sub24/EP07_04f", "casme2/sub24/EP10_03")
EXPECTED = {"casme2": 145, "samm": 133, "smic": 164}
PARTS = {"casme2": (CASME2, ("CASME2", "CASME_2", "CASMEII", "casme2")),
         "samm": (SAMM, ("SAMM", "samm")),
         "smic": (SMIC, ("SMIC", "smic", "SMIC-HS"))}


class MEGC2019(LoaderBase):
    """MEGC 2019 composite: CASME II + SAMM + SMIC-HS, megc3 labels, 442 clips of 68 subjects."""

    name = "megc2019"
    version = "MEGC 2019 composite (CASME II 2019 sheet minus 5 clips, SAMM, SMIC-HS)"
    citation = ("See J, Yap MH, Li J, Hong X, Wang S-J. MEGC 2019 - The Second Facial Micro-Expressions Grand "
                "Challenge. IEEE FG 2019.")
    license_note = "Composite of three licensed datasets; obtain each from its authors."
    tasks = ("emotion",)
    target_columns = ("emotion", "objective")
    task_targets = {"au": ("aus", "au_sides", "aus_raw", "aus_alternatives", "aus_uncertain")}
    label_sets = {"megc3": "negative, positive, surprise (CASME II, SAMM and SMIC mapped as in MEGC 2019)"}
    fps = None
    n_subjects = 68
    needs_root = False
    apex_policy = APEX_POLICY_TEXT + " SMIC defaults to apex=middle."

    def __init__(self, root=None, casme2: str | None = None, samm: str | None = None, smic: str | None = None,
                 labels: str = "megc3", variant: str = "raw", apex: str | None = None,
                 casme2_sheet: str | None = None, samm_sheet: str | None = None, smic_sheet: str | None = None,
                 bad_frames: str = "error"):
        super().__init__(root)
        check_choice(self.name, "labels", labels, ("megc3",))
        self.labels, self.variant, self.apex, self.bad_frames = labels, variant, apex, bad_frames
        self.sheets = {part: check_text(self.name, f"{part}_sheet", value)
                       for part, value in (("casme2", casme2_sheet), ("samm", samm_sheet), ("smic", smic_sheet))}
        given = {part: check_text(self.name, part, value)
                 for part, value in (("casme2", casme2), ("samm", samm), ("smic", smic))}
        self.part_roots: dict[str, Path] = {}
        for part, (_, folders) in PARTS.items():
            if given[part]:
                path = Path(given[part])
            elif self.root is not None:
                path = next((self.root / f for f in folders if is_dir(self.root / f)), self.root / folders[0])
            else:
                raise MissingArgumentError(
                    "megc2019 reads three datasets: pass --root DIR holding CASME2/, SAMM/ and SMIC/, or "
                    "--dataset-opt casme2=PATH --dataset-opt samm=PATH --dataset-opt smic=PATH.")
            if not is_dir(path):
                raise DataError(f"megc2019: the {part} root does not exist", file=path,
                                hint=f"Put {folders[0]}/ under --root, or pass --dataset-opt {part}=PATH.")
            self.part_roots[part] = path

    def _load(self, task: str) -> pd.DataFrame:
        tables = []
        for part, (cls, _) in PARTS.items():
            loader = cls(root=self.part_roots[part], labels="megc3", variant=self.variant, apex=self.apex,
                         sheet=self.sheets[part], bad_frames=self.bad_frames)
            loader.collect_problems = self.collect_problems
            try:
                table = loader.load("emotion")
            finally:
                self._absorb(part, loader)
            if part == "casme2":
                table = self._exclude(table)
            expected = EXPECTED[part]
            if len(table) != expected:
                self.warn(f"megc2019: the {part} part has {len(table)} clips; the official composite has {expected}. "
                          "Check the sheet version and the options (see the manifest's skipped list).")
            tables.append(table)
        combined = pd.concat(tables, ignore_index=True, sort=False)
        first = ["sample_id", "dataset", "subject_id", "label"]
        return combined[first + [c for c in combined.columns if c not in first]]

    def _absorb(self, part: str, loader) -> None:
        self.annotation_files.update(loader.annotation_files)
        self.sheet_versions.update(loader.sheet_versions)
        for text in loader.warnings:
            self.warn(text)
        self.skipped.extend(loader.skipped)
        for key, value in loader.counts.items():
            self.counts[f"{part}.{key}"] = value
        self.problems.extend(loader.problems)

    def _exclude(self, table: pd.DataFrame) -> pd.DataFrame:
        present = set(table["sample_id"])
        for sid in EXCLUDED:
            if sid in present:
                self.skip(sid, "excluded from the official MEGC 2019 composite")
                self.count("excluded_official")
            else:
                self.warn(f"megc2019: {sid} is listed as excluded from the official composite but is not among the "
                          "CASME II megc3 samples; your CASME II sheet may be a different release")
        return table[~table["sample_id"].isin(EXCLUDED)].reset_index(drop=True)
