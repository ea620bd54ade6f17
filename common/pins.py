"""PINs quoted in free text (a note, a problem's title, a provider's message)."""

import re

# Any run of four or more digits may be a PIN (Latchkey's locks take 4 to 8 digits, Seam's up
# to 16). Masking a year or a phone number too is the price of never showing a PIN.
_PIN_LIKE = re.compile(r"\d{4,}")


def mask_pins(text: str) -> str:
    """``text`` with every PIN-like run of digits replaced by as many bullets."""
    return _PIN_LIKE.sub(lambda m: "•" * len(m.group()), text or "")
