"""Hypothesis building blocks shared by the property tests."""

from __future__ import annotations

from typing import Literal

# Surrogate code points (category Cs) are not Unicode scalar values: no UTF-8 text
# holds them, so text strategies leave them out.
NO_SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
