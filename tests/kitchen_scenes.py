"""Kitchen scenes that several test modules build the same way."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2

from edgewatch.scenes.kitchen import make_renderer, random_spec, render_scene


def empty_kitchen_with_open_bin(out_dir: Path, seed: int, duration_s: float,
                                name: str) -> tuple[dict[str, Path], str, Path]:
    """A rendered kitchen without staff whose first bin opens at 0.5 s and stays open, and a picture of the same
    kitchen with every bin closed (the model-free bin mode's reference). Returns (the render's paths, the bin's
    zone name, the reference image)."""
    spec = random_spec(seed, width=480, height=270, duration_s=duration_s)
    first = spec.layout.bins[0].name
    spec = dataclasses.replace(spec, staff=(), lid_events=((first, 0.5, True),))
    paths = render_scene(spec, out_dir, name)
    image, _ = make_renderer(spec).render(0.0, [], {b.name: 0.0 for b in spec.layout.bins}, 0, with_people=False)
    reference = out_dir / "closed.png"
    cv2.imwrite(str(reference), image)
    return paths, first, reference
