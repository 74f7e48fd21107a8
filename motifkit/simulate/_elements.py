"""Chemical symbols by atomic number (no dependency on ASE for this small table)."""

from __future__ import annotations

from ..errors import ParameterError

#: ``SYMBOLS[Z]`` is the chemical symbol of atomic number ``Z`` (``SYMBOLS[0]`` is "X").
SYMBOLS = (
    "X H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge "
    "As Se Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm "
    "Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U "
    "Np Pu Am Cm Bk Cf Es Fm Md No Lr Rf Db Sg Bh Hs Mt Ds Rg Cn Nh Fl Mc Lv Ts Og"
).split()

_NUMBERS = {symbol: z for z, symbol in enumerate(SYMBOLS) if z > 0}


def atomic_number(element) -> int:
    """Return the atomic number of ``element`` (a symbol such as ``"Se"`` or an int)."""
    if isinstance(element, (int,)) and not isinstance(element, bool):
        if 1 <= element < len(SYMBOLS):
            return int(element)
    elif hasattr(element, "__index__") and not isinstance(element, (str, bool)):
        return atomic_number(int(element))
    elif isinstance(element, str) and element in _NUMBERS:
        return _NUMBERS[element]
    raise ParameterError(
        f"Unknown element {element!r}; give a chemical symbol such as 'Mo' or 'Se', "
        f"or an atomic number between 1 and {len(SYMBOLS) - 1}."
    )


def symbol(number: int) -> str:
    """Return the chemical symbol of atomic number ``number``."""
    return SYMBOLS[atomic_number(number)]
