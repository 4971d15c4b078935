"""A generated corpus with planted themes, every input format, and every kind of bad input."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

# Four themes far apart in meaning; each document mixes sentences of one theme only.
PLANTED = {
    "refunds": [
        "I was charged twice for the same order and want a refund.",
        "The refund for my returned jacket has not reached my bank account yet.",
        "Please reverse the duplicate payment on my credit card statement.",
        "How many days does a refund take to appear after a return?",
        "The merchant promised my money back but the refund is still pending.",
        "I cancelled the purchase, so why was my card still charged?",
        "Can you refund the delivery fee that was billed by mistake?",
        "My bank shows the payment twice; I need one of them refunded.",
    ],
    "passwords": [
        "I cannot log in because the password reset email never arrives.",
        "The two-factor authentication code is rejected every time I try.",
        "My account was locked after too many wrong password attempts.",
        "How do I change my password if I no longer have my old phone?",
        "The login page says my username does not exist, but it does.",
        "I forgot my password and the security questions do not work.",
        "Resetting the password link expired before I could use it.",
        "Please unlock my account, the sign-in keeps failing.",
    ],
    "gardening": [
        "Tomato seedlings need full sun and regular watering in early summer.",
        "Prune the rose bushes in late winter before new buds appear.",
        "Compost enriches the soil and helps vegetables grow stronger roots.",
        "Aphids on the lettuce can be washed away with a gentle spray of soapy water.",
        "Plant tulip bulbs in autumn about three times as deep as they are tall.",
        "Mulch around the strawberries keeps the soil moist and the weeds down.",
        "Sow carrots thinly in loose sandy soil and keep the bed weeded.",
        "Water the herb garden in the morning so the leaves dry by evening.",
    ],
    "astronomy": [
        "Jupiter's moons can be seen with a small telescope on a clear night.",
        "The Andromeda galaxy is the nearest large spiral galaxy to the Milky Way.",
        "A total solar eclipse happens when the moon covers the sun completely.",
        "Saturn's rings are made of ice and rock orbiting the planet.",
        "Meteor showers occur when Earth passes through debris left by a comet.",
        "Neutron stars are the collapsed cores of massive stars after a supernova.",
        "The International Space Station circles the Earth about every ninety minutes.",
        "Mars appears red because iron oxide dust covers its surface.",
    ],
}
HOSTILE_TEXT = ("<script>alert('pwned')</script> My refund </script><img src=x onerror=alert(1)> "
                "javascript:alert(2) was charged twice and the refund is still pending on my card.")


def planted_document(theme: str, rng: random.Random) -> str:
    """Three to four sentences of one planted theme."""
    return " ".join(rng.sample(PLANTED[theme], rng.randint(3, 4)))


def write_planted_corpus(root: Path, *, per_theme: int = 40, seed: int = 7) -> dict[str, str]:
    """Fill ``root`` with planted documents in every format plus bad inputs.

    Returns:
        ``{record key: planted theme}`` where the record key is ``object_key`` for one-document files
        and ``object_key#record_id`` for JSONL/CSV records.
    """
    rng = random.Random(seed)
    truth: dict[str, str] = {}
    jsonl_lines, csv_rows = [], []
    for theme in PLANTED:
        for i in range(per_theme):
            text = planted_document(theme, rng)
            slot = i % 4
            if slot == 0:
                key = f"notes/{theme}-{i:03d}.txt"
                _write(root / key, text.encode())
                truth[key] = theme
            elif slot == 1:
                key = f"pages/{theme}-{i:03d}.html"
                _write(root / key, f"<html><head><title>{theme}</title><style>b{{}}</style></head><body><p>{text}</p>"
                                   f"<script>var x = 1;</script></body></html>".encode())
                truth[key] = theme
            elif slot == 2:
                rid = f"{theme}-{i:03d}"
                jsonl_lines.append(json.dumps({"id": rid, "text": text, "theme_hint": "not used"}))
                truth[f"tickets/batch.jsonl#{rid}"] = theme
            else:
                rid = f"{theme}-{i:03d}"
                csv_rows.append({"id": rid, "text": text})
                truth[f"tables/rows.csv#{rid}"] = theme
    jsonl_lines.insert(3, '{"id": "broken", "text": "unterminated')
    _write(root / "tickets/batch.jsonl", "\n".join(jsonl_lines).encode())
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["id", "text"])
    writer.writeheader()
    writer.writerows(csv_rows)
    _write(root / "tables/rows.csv", buf.getvalue().encode())
    _write(root / "notes/hostile.md", HOSTILE_TEXT.encode())
    truth["notes/hostile.md"] = "refunds"
    write_bad_inputs(root)
    return truth


BAD_INPUTS = {
    "bad/binary.dat": (b"\x00\x01\x02\x03" * 64, "binary"),
    "bad/latin1.txt": ("café crème brûlée".encode("latin-1"), "bad_utf8"),
    "bad/empty.txt": (b"", "empty"),
    "bad/blank.md": (b"   \n\n\t  ", "empty"),
    "bad/photo.png": (b"\x89PNG\r\n\x1a\n", "unsupported_type"),
    "bad/broken.json": (b'{"text": "no end', "malformed_json"),
}


def write_bad_inputs(root: Path) -> None:
    """Objects that must become recorded skips."""
    for key, (data, _reason) in BAD_INPUTS.items():
        _write(root / key, data)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
