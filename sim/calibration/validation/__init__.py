"""Validation of the calibration (``python -m sim.calibration.validation``): which figures are
informative, whether deliberately wrong models are rejected (:mod:`.falsification`),
leave-one-wave-out prediction (:mod:`.lowo`) and the Sobol drivers, as one markdown section
(:func:`validation_section`) for ``calibration/report.md``."""

from .sections import fit_counts, section_from_files, validation_section

__all__ = ["fit_counts", "section_from_files", "validation_section"]
