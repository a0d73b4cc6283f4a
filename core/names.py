"""Names people type and others read (strategy names, display names, account labels, token
names): one set of rules for models, serializers and forms.

- No control or invisible characters: a CR/LF in a name would break a mail's subject (and
  the mail with it), and bidi overrides or zero-width characters make one name look like
  another.
- Display names that stand for a person are compared by `name_key`: NFKC (so "ﬁ" is "fi"
  and full-width letters are letters), case folded, spaces collapsed, and the Cyrillic and
  Greek letters that look like Latin ones read as those, so "Аlice" (Cyrillic А) and "ALICE"
  are both "alice". A name that mixes scripts within itself is refused: no one writes
  "Аlice" but to pass for "Alice". This is a small part of Unicode's confusables (UTS #39),
  enough for the scripts whose letters pass for Latin ones, without a dependency.
"""

import unicodedata

from django.core.exceptions import ValidationError

# Unicode categories no name needs: controls (CR, LF, TAB, ...), format characters (bidi
# overrides, zero-width joiners), surrogates, private use, unassigned; line and paragraph
# separators.
_UNPRINTABLE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}

# Letters of other scripts that look like Latin ones (after case folding).
_LOOKALIKES = str.maketrans(
    {
        # Cyrillic
        "а": "a",
        "в": "b",
        "е": "e",
        "ё": "e",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "с": "c",
        "т": "t",
        "у": "y",
        "х": "x",
        "ѕ": "s",
        "і": "i",
        "ї": "i",
        "ј": "j",
        "һ": "h",
        "ԁ": "d",
        "ԛ": "q",
        "ԝ": "w",
        "ӏ": "l",
        # Greek
        "α": "a",
        "β": "b",
        "ε": "e",
        "η": "n",
        "ι": "i",
        "κ": "k",
        "μ": "u",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
        "ζ": "z",
    }
)

# Scripts written together in one name: Japanese mixes kana and kanji, Korean may use hanja.
_SCRIPT_FAMILIES = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "HANGUL": "CJK", "CJK": "CJK", "KATAKANA-HIRAGANA": "CJK"}


def validate_printable_name(value: str) -> None:
    """Refuses control and invisible characters (CR/LF, tabs, bidi overrides, zero-width)."""
    if any(unicodedata.category(character) in _UNPRINTABLE_CATEGORIES for character in value):
        raise ValidationError("Use no control or invisible characters (line breaks, tabs, direction marks) in a name.", code="unprintable")


def _script(character: str) -> str:
    name = unicodedata.name(character, "")
    first = name.split(" ", 1)[0]
    return _SCRIPT_FAMILIES.get(first, first)


def validate_single_script_name(value: str) -> None:
    """Refuses a name whose letters come from more than one script ("Аlice" with a Cyrillic А)."""
    scripts = {_script(character) for character in unicodedata.normalize("NFKC", value) if character.isalpha()}
    if len(scripts) > 1:
        raise ValidationError(
            "Write the name's letters in one script: it mixes "
            f"{' and '.join(sorted(script.title() for script in scripts))} letters, which can pass for another name.",
            code="mixed_scripts",
        )


def name_key(value: str) -> str:
    """What two names are compared by: NFKC, case folded, spaces collapsed, and look-alike
    Cyrillic and Greek letters read as Latin ones."""
    folded = unicodedata.normalize("NFKC", value).casefold().translate(_LOOKALIKES)
    return " ".join(folded.split())
