"""The set builder is given the active text model's vectors only: two models' vectors are never compared."""

from __future__ import annotations

from services.domain.embeddings.service import text_model
from services.domain.setbuilder.service import _embeddings
from tests.domain.embeddings.vector_fixtures import embed, track, vec


def test_only_the_active_models_vectors_reach_the_set_builder(db_session, owner_library):
    _, library = owner_library
    mine = track(db_session, library, "Active model")
    other = track(db_session, library, "Other model only")
    embed(db_session, mine, text=vec((0, 1.0)), text_model=text_model())
    embed(db_session, other, text=vec((1, 1.0)), text_model="openai:some-other-model@384")
    vectors = _embeddings(db_session, [mine.id, other.id])
    assert set(vectors) == {mine.id}
    assert vectors[mine.id][0] == 1.0
