"""Synthetic input for the summarizer tests: planted topic words and clustered embeddings."""

from __future__ import annotations

import numpy as np

from tasks.core.summarizers import ClusterSummary, summarize_clusters

DIM = 16

# Theme label -> subtheme texts. Theme 0 has two subthemes and an unassigned rest; the
# words "refund" and "declined" are what sets its subthemes apart, "payment" is shared.
REFUNDS = [
    "I want a refund for my order, the payment went through twice.",
    "When will my refund arrive? The payment was last week.",
    "Refund still not received after the return of my payment.",
    "Please process my refund request for the payment.",
    "How long does a refund take after a payment dispute?",
]
DECLINED = [
    "My payment was declined at checkout with my card.",
    "Card payment declined again at the shop.",
    "Why is my payment declined every time?",
    "The payment got declined although I have money.",
]
PAYMENT_REST = ["A general question about my payment and billing."]
LOGIN = [
    "I forgot my password and cannot login.",
    "The reset password link is not working, login impossible.",
    "Login fails after the password change.",
    "Cannot login to my account, password rejected.",
    "Password expired and login blocked.",
]
SHIPPING = [
    "My delivery is late, shipping takes forever.",
    "Where is the shipping tracking number for my delivery?",
    "Change the delivery address before shipping.",
    "Shipping delayed and the delivery has not arrived.",
]
NOISE = ["Hello there, thanks a lot.", "Just checking in about things.", "Thanks, bye."]


def unit(v: np.ndarray) -> np.ndarray:
    """Rows of ``v`` L2-normalised, as float32."""
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def planted_data() -> dict:
    """Three planted themes (+ subthemes in theme 0) and noise, with clustered embeddings.

    Labels are deliberately not in size order (shipping is label 0 but the smallest theme)
    so the tests see that ids follow size, not labels.
    """
    rng = np.random.default_rng(0)
    groups = [  # (texts, theme label, global subtheme id)
        (REFUNDS, 2, 1), (DECLINED, 2, 0), (PAYMENT_REST, 2, -1),
        (LOGIN, 1, -1), (SHIPPING, 0, -1), (NOISE, -1, -1),
    ]
    centers = {lab: rng.standard_normal(DIM) for lab in (0, 1, 2)}
    texts, theme, sub, emb = [], [], [], []
    for group, t, s in groups:
        offset = rng.standard_normal(DIM) * 0.3  # subthemes sit apart inside their theme
        for text in group:
            base = centers[t] + offset if t >= 0 else rng.standard_normal(DIM) * 3
            texts.append(text)
            theme.append(t)
            sub.append(s)
            emb.append(base + rng.standard_normal(DIM) * 0.1)
    return {
        "texts": texts,
        "emb": unit(np.array(emb)),
        "theme": np.array(theme, dtype=np.int32),
        "subtheme": np.array(sub, dtype=np.int32),
        "subtheme_theme": np.array([2, 2], dtype=np.int32),
    }


def run(data: dict, **kw) -> list[ClusterSummary]:
    """``summarize_clusters`` on a ``planted_data()``-shaped dict."""
    return summarize_clusters(data["texts"], data["emb"], data["theme"], data["subtheme"], data["subtheme_theme"], **kw)


def themes_only(texts: list[str], emb: np.ndarray, theme: np.ndarray, **kw) -> list[ClusterSummary]:
    """``summarize_clusters`` with no subthemes."""
    no_subthemes = np.full(len(theme), -1, np.int32)
    return summarize_clusters(texts, emb, np.asarray(theme, np.int32), no_subthemes, np.zeros(0, np.int32), **kw)


def by_label(tree: list[ClusterSummary]) -> dict[int, ClusterSummary]:
    """Themes keyed by their clustering-stage label."""
    return {node.label: node for node in tree}
