"""Resource quantities in the canonical form the API server stores. Pure.

The reconciler compares what we render with the live object field by field; the API
server rewrites ``0.5`` to ``500m`` and ``1024Mi`` to ``1Gi``, so rendering the
user's spelling would look like drift on every resync (a needless apply and a false
"DriftRepaired" event). This follows apimachinery's ``Quantity.String()`` for the
common cases: decimal SI, binary SI and exponent (``1e3``) forms, each kept in its
own format with the largest exact unit.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal

__all__ = ["canonical_quantity"]

_RE = re.compile(
    r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
)
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {exp: suffix for suffix, exp in _DECIMAL.items()}


def _decimal_si(value: Decimal, exponent_form: bool = False) -> str:
    if value == 0:
        return "0"
    # Container resources are kept to the milli (the API server rounds up: 1.0001 ->
    # 1001m, checked against kube-apiserver 1.36), whatever the resource.
    units = int((value * 1000).to_integral_value(rounding=ROUND_CEILING))
    exp = -3
    while exp < 18 and units % 1000 == 0:
        units //= 1000
        exp += 3
    if exponent_form:
        return f"{units}e{exp}" if exp else str(units)
    return f"{units}{_DECIMAL_SUFFIX[exp]}"


def canonical_quantity(value: int | str) -> str:
    """``value`` as the API server returns it in a container's resources
    (``"0.5"`` -> ``"500m"``, ``"1024Mi"`` -> ``"1Gi"``)."""
    text = str(value).strip()
    match = _RE.match(text)
    if match is None:
        return text  # not a quantity: leave it for the API server to reject
    number, suffix = Decimal(match.group(1)), match.group(2) or ""
    if suffix in _BINARY:
        amount = number * 1024 ** _BINARY[suffix]
        # Binary form only for whole amounts of at least 1Ki, as apimachinery does.
        if amount == amount.to_integral_value() and abs(amount) >= 1024:
            whole, power = int(amount), 0
            while power < 6 and whole % 1024 == 0:
                whole //= 1024
                power += 1
            return f"{whole}{['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'][power]}"
        return _decimal_si(amount)
    if suffix[:1] in ("e", "E"):
        return _decimal_si(number * Decimal(10) ** int(suffix[1:]), exponent_form=True)
    return _decimal_si(number * Decimal(10) ** _DECIMAL[suffix])
