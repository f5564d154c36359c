"""The package docstring's example runs as written."""

from __future__ import annotations

import doctest

import uidcache


def test_the_package_docstring_example_runs():
    result = doctest.testmod(uidcache)
    assert result.attempted > 0
    assert result.failed == 0
