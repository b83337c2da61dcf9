"""Kaggle micro-expression lie images: face frames in ``truth/`` and ``lie/`` folders.

Each image is a sample. With per-subject sub-folders (``truth/<subject>/*.jpg``) the sub-folder is
the speaker identity; flat class folders carry none, so subject-wise protocols refuse them. An
image or folder that is a link leading out of the root is refused.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import DataError
from ..io import IMAGE_EXTENSIONS
from .deception import DeceptionDataset
from .sheets import deception_label


class KaggleMELie(DeceptionDataset):
    """Kaggle ME lie images: face frames in truth/ and lie/ folders, optionally one sub-folder per subject."""

    name = "kaggle-me-lie"
    version = "image folders"
    citation = "Kaggle micro-expression lie-detection image set (community upload; cite the uploader's page)."
    license_note = "Check the licence on the Kaggle page of your copy."

    def __init__(self, root=None):
        super().__init__(root, count_frames=False)

    def _load(self, task: str) -> pd.DataFrame:
        classes = {}
        for p in sorted(self.root.iterdir()):
            if p.is_dir():
                label = deception_label(p.name)
                if label is not None:
                    if label in classes:
                        raise DataError(f"two folders for {label}: {classes[label].name} and {p.name}", file=self.root)
                    classes[label] = p
        if not classes:
            names = ", ".join(sorted(p.name for p in self.root.iterdir() if p.is_dir())[:8]) or "none"
            raise DataError(f"no truth/ or lie/ folder found (folders: {names})", file=self.root,
                            hint="Expected per-class folders named truth and lie, in any letter case.")
        records, layouts = [], set()
        for label, folder in sorted(classes.items()):
            direct = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
            subdirs = sorted(p for p in folder.iterdir() if p.is_dir())
            if direct and subdirs:
                raise DataError(f"{folder.name}/ holds both images and sub-folders", file=folder,
                                hint="Put every image in a per-subject folder, or none of them.")
            if subdirs:
                layouts.add("subjects")
                for sub in subdirs:
                    for img in sorted(p for p in sub.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS):
                        rel = img.relative_to(sub).with_suffix("").as_posix()
                        records.append({"sample_id": f"{self.name}/{folder.name}/{sub.name}/{rel}",
                                        "subject_id": f"{self.name}/{sub.name}", "label": label,
                                        "label_raw": folder.name, "frames": str(img), "n_frames": 1, "clip": rel})
            else:
                layouts.add("flat")
                for img in direct:
                    records.append({"sample_id": f"{self.name}/{folder.name}/{img.stem}",
                                    "subject_id": f"{self.name}/clip-{folder.name}-{img.stem}", "label": label,
                                    "label_raw": folder.name, "frames": str(img), "n_frames": 1, "clip": img.stem})
        if len(layouts) > 1:
            raise DataError("one class folder has per-subject sub-folders and the other does not", file=self.root,
                            hint="Use the same layout for truth/ and lie/.")
        if not records:
            raise DataError("no images found in the class folders", file=self.root)
        seen: dict[str, str] = {}
        for r in records:
            r["dataset"] = self.name
            image = Path(r["frames"])
            self.checked_path(self.root, image.relative_to(self.root).as_posix(), r["sample_id"], "image", file=image)
            if r["sample_id"] in seen:
                raise DataError(f"two images give the sample {r['sample_id']}: {seen[r['sample_id']]} and {image.name}",
                                file=image.parent, hint="Rename one of them; samples are named by the file stem.")
            seen[r["sample_id"]] = image.name
        if layouts == {"flat"}:
            self.no_identities("the class folders have no per-subject sub-folders")
        return self.frame_from(records, ["sample_id", "dataset", "subject_id", "label", "label_raw", "clip", "frames",
                                         "n_frames"])
