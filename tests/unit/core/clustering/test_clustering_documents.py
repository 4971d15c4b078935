"""``cluster_documents`` (the run's ``cluster_unit="document"``): documents as points, their chunks in their groups."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_mutual_info_score

from tasks.core.clustering import cluster_documents, document_prior, document_vectors
from tests.unit.core.clustering.clustering_fixtures import D, check_contract, normalise, run_clustering


def noisy_documents(seed: int = 0, docs_per_topic=(60, 50, 40), chunks: int = 6,
                    spread: float = 8.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Documents of one topic each, cut into ``chunks`` chunks whose vectors are so noisy (``spread`` times the
    topic's unit centre) that a chunk alone barely says its topic, while its document's mean does.

    Returns:
        chunk vectors, each chunk's document id (a string, shuffled order) and each chunk's topic.
    """
    rng = np.random.default_rng(seed)
    centres = normalise(rng.standard_normal((len(docs_per_topic), D)))
    vectors, doc, topic = [], [], []
    for t, count in enumerate(docs_per_topic):
        for i in range(count):
            noise = rng.standard_normal((chunks, D)) * (spread / np.sqrt(D))
            vectors.append(normalise(centres[t][None, :] + noise))
            doc += [f"doc-{t}-{i:03d}"] * chunks
            topic += [t] * chunks
    order = rng.permutation(len(doc))
    return np.concatenate(vectors)[order], np.asarray(doc, dtype=object)[order], np.asarray(topic)[order]


def test_document_vectors_are_unit_means_of_their_chunks_in_sorted_id_order():
    emb = normalise(np.random.default_rng(1).standard_normal((5, D)))
    vectors, of_chunk = document_vectors(emb, np.array(["b", "a", "b", "c", "a"], dtype=object))
    assert of_chunk.tolist() == [1, 0, 1, 2, 0]
    want = normalise(np.stack([emb[1] + emb[4], emb[0] + emb[2], emb[3]]))
    np.testing.assert_allclose(vectors, want, atol=1e-6)
    assert vectors.dtype == np.float32
    empty, rows = document_vectors(np.zeros((0, D), np.float32), np.array([], dtype=object))
    assert empty.shape == (0, D) and rows.shape == (0,)


def test_a_document_takes_the_previous_theme_most_of_its_chunks_had():
    of_chunk = np.array([0, 0, 0, 1, 1, 2, 3, 3])
    prior = np.array([4, 2, 4, 1, 3, -1, -1, 5])
    # doc 0: 4 twice; doc 1: a tie, the lower theme; doc 2: none known; doc 3: the one known chunk's
    assert document_prior(prior, of_chunk, 4).tolist() == [4, 1, -1, 5]
    assert document_prior(np.full(8, -1), of_chunk, 4).tolist() == [-1] * 4
    assert document_prior(None, of_chunk, 4) is None


def test_documents_cluster_by_topic_where_their_chunks_alone_do_not():
    emb, doc, topic = noisy_documents()
    kw = {"min_cluster_size": 20, "min_subcluster_size": 5}
    by_doc = cluster_documents(emb, doc, **kw)
    check_contract(by_doc, len(emb))
    for d in np.unique(doc):  # every chunk of a document is in its document's theme and subtheme
        rows = doc == d
        assert len(set(by_doc.theme[rows].tolist())) == 1 and len(set(by_doc.subtheme[rows].tolist())) == 1
    assert by_doc.theme.max() + 1 == 3
    assert adjusted_mutual_info_score(topic, by_doc.theme) >= 0.9
    by_chunk = run_clustering(emb, **kw)
    assert adjusted_mutual_info_score(topic, by_chunk.theme) < 0.5, "the fixture's chunks must be hard alone"
    diag = by_doc.diagnostics
    assert diag["unit"] == "document" and diag["documents"] == 150 and diag["chunks"] == 900
    assert diag["n_themes"] == 3 and diag["fraction_in_theme"] == pytest.approx(float((by_doc.theme >= 0).mean()))


def test_themes_are_numbered_by_their_size_in_chunks_not_in_documents():
    emb, doc, _ = noisy_documents(seed=2, docs_per_topic=(40, 40), chunks=2, spread=1.0)
    # topic 1's documents get three more chunks each: it has as many documents as topic 0 but more chunks
    extra_rows = [i for i, d in enumerate(doc) if d.startswith("doc-1-")][::2]
    emb = np.concatenate([emb] + [emb[extra_rows]] * 3)
    doc = np.concatenate([doc] + [doc[extra_rows]] * 3)
    c = cluster_documents(emb, doc, min_cluster_size=20, min_subcluster_size=5)
    check_contract(c, len(emb))
    assert c.theme.max() + 1 == 2
    assert {c.theme[i] for i, d in enumerate(doc) if d.startswith("doc-1-")} == {0}


def test_same_input_gives_the_same_clustering_whatever_the_row_order():
    emb, doc, _ = noisy_documents(seed=3)
    first = cluster_documents(emb, doc, min_cluster_size=20, seed=4)
    again = cluster_documents(emb, doc, min_cluster_size=20, seed=4)
    assert np.array_equal(first.theme, again.theme) and np.array_equal(first.subtheme, again.subtheme)
    order = np.random.default_rng(5).permutation(len(doc))
    shuffled = cluster_documents(emb[order], doc[order], min_cluster_size=20, seed=4)
    assert adjusted_mutual_info_score(first.theme[order], shuffled.theme) == pytest.approx(1.0)


def test_too_few_documents_are_all_noise_without_an_error():
    emb, doc, _ = noisy_documents(docs_per_topic=(1,), chunks=30)
    one = cluster_documents(emb, doc, min_cluster_size=25)
    assert (one.theme == -1).all() and one.diagnostics["documents"] == 1 and len(one.theme) == 30
    emb, doc, _ = noisy_documents(docs_per_topic=(5, 5), chunks=3)
    few = cluster_documents(emb, doc, min_cluster_size=25)
    assert (few.theme == -1).all() and few.diagnostics["documents"] == 10
    check_contract(few, 30)


def test_previous_themes_steer_documents_through_their_chunks_majority():
    emb, doc, topic = noisy_documents(seed=6)
    base = cluster_documents(emb, doc, min_cluster_size=20)
    steered = cluster_documents(emb, doc, min_cluster_size=20, prior_theme=base.theme.astype(np.int64),
                                stickiness=0.1)
    assert adjusted_mutual_info_score(base.theme, steered.theme) == pytest.approx(1.0)
    assert steered.diagnostics["prior_known_pct"] == pytest.approx(100 * float((base.theme >= 0).mean()), abs=1)
    assert adjusted_mutual_info_score(topic, steered.theme) >= 0.9


def test_the_stability_check_runs_on_the_documents():
    emb, doc, _ = noisy_documents(seed=7)
    c = cluster_documents(emb, doc, min_cluster_size=20, stability_check=True)
    assert c.diagnostics["stability_sample"] == 135  # 90 % of 150 documents
    assert c.diagnostics["stability_ami"] >= 0.8
