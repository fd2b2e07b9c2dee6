"""TOML values as the backbone manifests write them, shared by tools/export_backbone.py and
tools/quantize_backbone.py (standard library only)."""


def toml_float3(value):
    """A TOML float (always with '.' or an exponent) rounded to 3 significant digits."""
    return repr(float(f"{value:.3g}"))


def toml_floats(values):
    """A TOML array of floats."""
    return "[" + ", ".join(repr(float(v)) for v in values) + "]"


def toml_strings(values):
    """A TOML array of plain strings (no quotes or backslashes inside)."""
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"
