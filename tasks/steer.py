"""Steer stage: with an ``instruction``, the facet it asks for (`tasks.core.steering`), kept in the scratch folder
for the knn, cluster and summarize stages; without one, or when the corpus already varies along the facet
(its alignment), they use the plain vectors.

The model embeds the corpus's candidate phrases once (the chunk vectors are not re-embedded); the stage's record
says what the instruction was read as and the facet's closest phrases, and the manifest keeps it.
"""

from __future__ import annotations

import numpy as np

from tasks.chunk import load_corpus_texts
from tasks.core.steering import ALIGNED, Facet, Instruction, candidate_phrases, facet_basis, parse_instruction, steer
from tasks.embed import run_encoder
from tasks.infra.errors import ConfigError
from tasks.infra.params import SteerParams
from tasks.infra.runs import RunRef
from tasks.infra.settings import Settings
from tasks.infra.stage import stage_logger, stage_task, stopwatch

#: Facet phrases named in the stage's record, the manifest and the report.
SHOWN_PHRASES = 12


def load_facet(run: RunRef, instruction: str | None) -> np.ndarray | None:
    """The facet's directions the steer stage saved for a run, or None when its vectors are not steered (no
    instruction, or a corpus that already varies along it)."""
    if instruction is None:
        return None
    with np.load(run.facet_path) as saved:
        return saved["basis"] if bool(saved["steers"]) else None


def steered(run: RunRef, emb: np.ndarray, instruction: str | None) -> np.ndarray:
    """``emb`` along the run's facet when the steer stage steers it, else unchanged."""
    basis = load_facet(run, instruction)
    return emb if basis is None else steer(emb, basis)


def steer_run(run: RunRef, settings: Settings, params: SteerParams) -> tuple[Instruction, Facet]:
    """Read the instruction, gather the corpus's candidate phrases, embed them and keep the facet."""
    instruction = parse_instruction(params.instruction or "", params.instruction_examples)
    texts, _ = load_corpus_texts(settings, run)
    try:
        facet = facet_basis(instruction, candidate_phrases(texts, params.seed), run_encoder(settings),
                            np.load(run.embeddings_path, mmap_mode="r"), params.seed)
    except ValueError as exc:
        raise ConfigError(f"instruction {params.instruction!r}: {exc}") from None
    np.savez(run.facet_path, basis=facet.basis, steers=facet.steers,
             phrases=np.array(facet.phrases[:SHOWN_PHRASES], dtype=str))
    return instruction, facet


@stage_task(name="steer")
def steer_task(run: RunRef, settings: Settings, params: SteerParams) -> dict:
    """The instruction's facet (nothing to do without one)."""
    if params.instruction is None:
        run.facet_path.unlink(missing_ok=True)
        return {"instruction": None, "seconds": 0.0}
    log = stage_logger()
    with stopwatch() as timing:
        instruction, facet = steer_run(run, settings, params)
    shown = list(facet.phrases[:SHOWN_PHRASES])
    log.info(f"steer: {instruction.text!r} read as {instruction.facet!r}"
             + (f" with examples {list(instruction.examples)}" if instruction.examples else "")
             + f"; {facet.basis.shape[0]} directions from {min(len(facet.phrases), facet.vocabulary):,} of "
             f"{facet.vocabulary:,} phrases, closest: {', '.join(shown[:6])}; alignment {facet.alignment:.2f}: "
             + ("the themes follow the facet" if facet.steers else
                f"the corpus already varies along it (from {ALIGNED:.2f}), plain vectors kept"))
    return {"instruction": instruction.text, "facet": instruction.facet, "examples": list(instruction.examples),
            "directions": int(facet.basis.shape[0]), "vocabulary": facet.vocabulary, "phrases": shown,
            "alignment": facet.alignment, "steered": facet.steers, "seconds": timing["seconds"]}
