"""PLACEHOLDER (being written): exact Gramians and Hankel singular values."""

from __future__ import annotations


def gramian(sys, kind, *, factor=False):
    raise NotImplementedError


def hsv(sys):
    raise NotImplementedError
