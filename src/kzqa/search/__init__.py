"""question -> candidates (dense, BM25) -> fusion -> answer sentence -> checked citation.

Never imports the build side (checked by `make lint`): a question never builds anything.
"""

from .searcher import Candidates, QuestionCache, Searcher, check_mode, check_question

__all__ = ["Candidates", "QuestionCache", "Searcher", "check_mode", "check_question"]
