"""PLACEHOLDER (being written): ERA identification."""

from __future__ import annotations


def era(markov, order=None, *, tol=None, dt=1.0):
    raise NotImplementedError
