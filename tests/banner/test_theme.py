import pytest

from consentproxy.banner.theme import DEFAULT_COLORS, contrast, contrast_problems


def test_contrast_matches_the_wcag_formula():
    assert contrast("#000", "#fff") == pytest.approx(21)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert contrast("#fff", "#fff") == pytest.approx(1)


def test_default_colours_pass_aa():
    assert contrast_problems(DEFAULT_COLORS) == []


def test_low_contrast_is_explained():
    problems = contrast_problems({**DEFAULT_COLORS, "accent": "#9ab"})
    assert len(problems) == 2  # white text on it, and it on the white background
    assert "accent #9ab on background #ffffff has contrast 2.38:1" in problems[1]
    assert "4.5:1" in problems[0]
