"""The one declaration of data, families, runs, attacks and sweeps, read once when pipelines are registered.

Kedro builds pipelines before a session reads parameters, so the structure that parameters declare
(which runs exist, which attacks judge them, which sweep members to train) is read here, from the
same configuration the session will use: the project hook records the session's config loader
(``--env``, ``--conf-source`` and ``--params`` included) before the first pipeline is built; without
a session (``kedro registry``, a notebook) ``./conf`` with ``$KEDRO_ENV`` is read.

Everything is validated here, before any node runs: a typo in one run's keys, an unknown family, an
attack whose ``eps_max`` is not on its grid, a sweep of a run that does not exist. The templates
receive this object; no pipeline module reads configuration itself.

One module per responsibility:

- :mod:`.model`: the dataclasses (:class:`Declaration` and its blocks) and the questions templates ask of them;
- :mod:`.reading`: :func:`read_declaration`, one reader per section; :mod:`.validation`: the checks they share;
- :mod:`.expansion`: ``seeds:`` / ``splits:`` of a run block expanded into concrete runs (names, parameters);
- :mod:`.ensembles`: ensembles and their members' parameters; :mod:`.atk_gan`: ECG-ATK-GAN's two blocks;
- :mod:`.checking`: every key of an env's files and of ``--params`` checked against what it overrides;
- :mod:`.session`: where the parameters come from (the running session's config loader, else ``./conf``).
"""

from ..params import with_overrides
from .atk_gan import ATK_GAN_EVALUATION_KEYS, EVASION_KEYS, data_classes
from .checking import (function_sections, NAMED_SECTIONS, check_override_paths, check_runtime_params,
                       runtime_variables)
from .ensembles import member_params
from .expansion import SPLIT_SUFFIX, expanded_params
from .model import (ATTACK_BLOCK_KEYS, ATTACK_DEFAULT_KEYS, DATA_KEYS, ENSEMBLE_FAMILY, ENSEMBLE_KEYS, RUN_KEYS,
                    SHARED_MEMBER_KEYS, VOTE_FAMILY, AtkGanEvaluation, AttackGeneration, DataSplits, Declaration, EnsembleDecl, Family, MainStudy, Run,
                    Sweep, with_data_defaults)
from .reading import read_declaration
from .session import forget_session_config, load_declaration, use_session_config

__all__ = [
    "ATK_GAN_EVALUATION_KEYS", "ATTACK_BLOCK_KEYS", "ATTACK_DEFAULT_KEYS", "DATA_KEYS", "ENSEMBLE_FAMILY",
    "ENSEMBLE_KEYS", "EVASION_KEYS", "NAMED_SECTIONS", "function_sections", "RUN_KEYS", "SHARED_MEMBER_KEYS", "VOTE_FAMILY",
    "AtkGanEvaluation", "AttackGeneration", "DataSplits", "Declaration", "EnsembleDecl", "Family", "MainStudy", "Run",
    "Sweep",
    "check_override_paths", "check_runtime_params", "data_classes", "forget_session_config", "load_declaration",
    "SPLIT_SUFFIX", "expanded_params", "member_params", "read_declaration", "runtime_variables", "use_session_config", "with_data_defaults",
    "with_overrides",
]
