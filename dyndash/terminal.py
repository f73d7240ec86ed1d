"""Text from a server or a file made safe to print on a terminal (README, "Security: what is
enforced where").

A template, a title or an error message may hold escape sequences: on a terminal they can
hide lines, move the cursor over what was printed, or write the clipboard (OSC 52). Every
control character but newline and tab is shown instead as caret notation (`ESC` as `^[`,
`DEL` as `^?`), and the C1 controls, which some terminals also obey, as `\\x9b`.
"""

from __future__ import annotations

_KEPT = frozenset("\n\t")


def _visible(character: str) -> str:
    code = ord(character)
    if code < 0x20:
        return "^" + chr(code + 0x40)
    if code == 0x7F:
        return "^?"
    return f"\\x{code:02x}"


_SHOWN = {
    code: _visible(chr(code))
    for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))
    if chr(code) not in _KEPT
}


def shown(text: str) -> str:
    """`text` with every control character but newline and tab made visible."""
    return text.translate(_SHOWN)
